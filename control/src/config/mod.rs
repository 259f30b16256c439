//! The pfSense `config.xml` model.
//!
//! Two layers:
//!
//! 1. **The tree** ([`ConfigDocument`], built from [`xml::Element`]s) holds the
//!    whole file losslessly: every element, in order, including sections and
//!    fields rampart does not understand (DHCP, OpenVPN, certificates, package
//!    settings, …). Writing the file back ([`ConfigDocument::to_xml`]) uses
//!    pfSense's own serialisation rules (tab indentation, `<x></x>` for empty
//!    values, CDATA for `descr`-like fields), so a config read from pfSense and
//!    written by rampart reads back identically. XML comments, the
//!    declaration's encoding, attribute quoting and whitespace layout are not
//!    kept. Sync code replaces or merges whole sections of the tree
//!    ([`ConfigDocument::replace_section`], [`xml::Element::replace_children_named`]).
//!
//! 2. **The typed view** ([`Config`]) is read from the tree and validated:
//!    `<system>` (hostname, domain, users, groups), `<interfaces>`,
//!    `<gateways>`, `<staticroutes>`, `<virtualip>`, `<hasync>`, `<aliases>`,
//!    `<filter>` rules (typed, and as a summary) and `<nat>` counts, and rampart's own
//!    node-local `<rampart>` section (DPDK ports, workers, polling). The typed
//!    view is never written back: to change the config, edit the tree and
//!    analyse it again.
//!
//! Validation ([`Config::from_document`]) collects *every* problem, each with
//! the path of the offending element (e.g. `/pfsense/interfaces/lan/subnet`).
//! It checks syntax of the values rampart uses and the cross-references between
//! sections (gateways, interfaces, aliases, CARP VIPs, DPDK ports). Unknown
//! sections are accepted and kept. A config without `<rampart>` is a valid
//! config but cannot drive a node ([`Config::rampart`] is `None`).
//!
//! `<rampart>` is node-local like `<interfaces>` and `<hasync>`: it must never
//! be sent in an XMLRPC sync payload.
//!
//! ```
//! use rampart_control::config::{Config, ConfigDocument, Element};
//!
//! let xml = br#"<?xml version="1.0"?>
//! <pfsense>
//!     <interfaces>
//!         <lan><enable/><if>lan0</if><ipaddr>10.0.0.1</ipaddr><subnet>24</subnet></lan>
//!     </interfaces>
//!     <rampart><port><if>lan0</if><devargs>net_null0</devargs></port></rampart>
//! </pfsense>"#;
//! let config = Config::parse(xml)?;
//! let lan = config.interface_by_if("lan0").expect("mapped");
//! assert_eq!(lan.ipv4_cidr().map(|c| c.to_string()).as_deref(), Some("10.0.0.1/24"));
//! assert_eq!(config.rampart.as_ref().map(|r| r.ports.len()), Some(1));
//!
//! // Sections are replaced in the tree, then the result is validated again.
//! let mut doc: ConfigDocument = config.doc;
//! doc.replace_section(Element::new("filter"));
//! let config = Config::from_document(doc)?;
//! assert!(config.to_xml().contains("\t<filter></filter>\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod document;
pub mod filter;
pub mod model;
pub mod nat;
pub mod net;
pub mod validate;
pub mod xml;

use std::path::{Path, PathBuf};

pub use document::ConfigDocument;
pub use filter::{
    Endpoint, EndpointAddr, FilterAction, FilterRule, IcmpType, OtherProtocol, PortSpec, Protocol,
    RuleDirection, RuleIpProtocol, StateType, TcpFlags,
};
pub use model::{
    Alias, FilterRuleSummary, Gateway, GatewayAddress, Gateways, Group, HaSync, Interface,
    IpProtocol, Ipv4Mode, Ipv6Mode, NatSummary, NodeSettings, PfsyncVersion, Polling, PortConfig,
    RouteNetwork, STATE_TIMEOUT_ELEMENTS, StaticRoute, System, User, VipMode, VirtualIp,
    XmlrpcSettings,
};
pub use nat::{NatConfig, NatNetwork, NatTarget, OutboundMode, OutboundNatRule, PortForward};
pub use net::{Ipv4Cidr, Ipv6Cidr, MacAddr, NetParseError};
pub use validate::{ConfigError, ConfigErrorKind, MIN_SYNC_KEY_LEN, ValidationErrors};
pub use xml::{Element, XmlError};

/// A `config.xml`: the lossless document plus the typed view of the sections
/// rampart uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The whole file; the source of truth for writing back.
    pub doc: ConfigDocument,
    /// `<system>`.
    pub system: System,
    /// `<interfaces>`, in document order.
    pub interfaces: Vec<Interface>,
    /// `<gateways>`.
    pub gateways: Gateways,
    /// `<staticroutes>`, in document order.
    pub static_routes: Vec<StaticRoute>,
    /// `<virtualip>`, in document order.
    pub virtual_ips: Vec<VirtualIp>,
    /// `<hasync>`, if present.
    pub hasync: Option<HaSync>,
    /// `<aliases>`.
    pub aliases: Vec<Alias>,
    /// `<filter>` rules, in document order, as listed by the GUI.
    pub filter_rules: Vec<FilterRuleSummary>,
    /// `<filter>` rules, typed, in document order (rules with a problem are
    /// left out; see [`filter`]). pfSense evaluates floating rules first.
    pub filter: Vec<FilterRule>,
    /// `<nat>` counts.
    pub nat: NatSummary,
    /// `<nat>`, typed: outbound mode and rules, port forwards (enabled ones, valid ones).
    pub nat_rules: NatConfig,
    /// `<rampart>`: this node's dataplane settings, if present.
    pub rampart: Option<NodeSettings>,
}

/// Why [`Config::load`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a well-formed config document.
    #[error("{}: {source}", path.display())]
    Xml {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: XmlError,
    },
    /// The file parsed but failed validation.
    #[error("{}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        source: ValidationErrors,
    },
}

impl Config {
    /// Reads the typed view best-effort and returns it together with every
    /// validation problem found (empty when the config is valid). Values that
    /// fail to parse are left out of the view (or defaulted).
    /// [`Config::from_document`] is this plus "reject if anything was found".
    #[must_use]
    pub fn analyze(doc: ConfigDocument) -> (Self, Vec<ConfigError>) {
        let (s, errors) = validate::analyze(&doc);
        let config = Self {
            doc,
            system: s.system,
            interfaces: s.interfaces,
            gateways: s.gateways,
            static_routes: s.static_routes,
            virtual_ips: s.virtual_ips,
            hasync: s.hasync,
            aliases: s.aliases,
            filter_rules: s.filter_rules,
            filter: s.filter,
            nat: s.nat,
            nat_rules: s.nat_rules,
            rampart: s.rampart,
        };
        (config, errors)
    }

    /// Validates `doc` and builds the typed view.
    ///
    /// # Errors
    /// [`ValidationErrors`] listing every problem when the document is invalid.
    pub fn from_document(doc: ConfigDocument) -> Result<Self, ValidationErrors> {
        let (config, errors) = Self::analyze(doc);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ValidationErrors { errors })
        }
    }

    /// Parses and validates a config held in memory.
    ///
    /// # Errors
    /// [`LoadError::Xml`] or [`LoadError::Invalid`], with an empty path.
    pub fn parse(bytes: &[u8]) -> Result<Self, LoadError> {
        Self::parse_named(bytes, PathBuf::new())
    }

    /// Reads, parses and validates the file at `path`.
    ///
    /// # Errors
    /// [`LoadError::Io`] if the file cannot be read, [`LoadError::Xml`] if it is
    /// not a well-formed config, [`LoadError::Invalid`] if validation fails.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let config = Self::parse_named(&bytes, path.to_owned())?;
        tracing::debug!(
            path = %path.display(),
            interfaces = config.interfaces.len(),
            rules = config.filter_rules.len(),
            vips = config.virtual_ips.len(),
            "config loaded"
        );
        Ok(config)
    }

    fn parse_named(bytes: &[u8], path: PathBuf) -> Result<Self, LoadError> {
        let doc = match ConfigDocument::parse(bytes) {
            Ok(doc) => doc,
            Err(source) => return Err(LoadError::Xml { path, source }),
        };
        Self::from_document(doc).map_err(|source| LoadError::Invalid { path, source })
    }

    /// Serialises the document (see [`ConfigDocument::to_xml`]).
    #[must_use]
    pub fn to_xml(&self) -> String {
        self.doc.to_xml()
    }

    /// The interface with key `key` (`wan`, `lan`, `opt1`, …).
    #[must_use]
    pub fn interface(&self, key: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.key == key)
    }

    /// The interface whose `<if>` is `if_name`, preferring an enabled one.
    #[must_use]
    pub fn interface_by_if(&self, if_name: &str) -> Option<&Interface> {
        let mut matching = self.interfaces.iter().filter(|i| i.if_name == if_name);
        let first = matching.clone().next();
        matching.find(|i| i.enabled).or(first)
    }

    /// The gateway item called `name` (not groups, not implicit dynamic ones).
    #[must_use]
    pub fn gateway(&self, name: &str) -> Option<&Gateway> {
        self.gateways.items.iter().find(|g| g.name == name)
    }

    /// The default IPv4 gateway, when it names a gateway item.
    #[must_use]
    pub fn default_gateway_v4(&self) -> Option<&Gateway> {
        self.gateway(self.gateways.default_v4.as_deref()?)
    }

    /// The default IPv6 gateway, when it names a gateway item.
    #[must_use]
    pub fn default_gateway_v6(&self) -> Option<&Gateway> {
        self.gateway(self.gateways.default_v6.as_deref()?)
    }

    /// The alias called `name`.
    #[must_use]
    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }

    /// The CARP VIPs, in document order.
    pub fn carp_vips(&self) -> impl Iterator<Item = &VirtualIp> {
        self.virtual_ips.iter().filter(|v| v.mode == VipMode::Carp)
    }
}
