//! Ethernet ports and their queues.

use std::cell::Cell;
use std::ffi::CString;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys::rte_mbuf;
use thiserror::Error;

use super::{BURST_SIZE, Mbuf, Mempool, RxBatch};

/// Why a port operation failed.
#[derive(Debug, Error)]
pub enum PortError {
    /// The devargs string was empty or had a NUL byte.
    #[error("bad devargs {0:?}")]
    BadDevargs(String),
    /// A DPDK call failed.
    #[error("port {port}: {op} failed: errno {errno}: {reason}")]
    Dpdk {
        /// Device name.
        port: String,
        /// Which call.
        op: &'static str,
        /// The negative return or rte_errno.
        errno: i32,
        /// DPDK's text.
        reason: String,
    },
    /// The device cannot have as many queues as asked.
    #[error("port {port}: asked for {asked} {kind} queues, the driver allows {max}")]
    TooManyQueues {
        /// Device name.
        port: String,
        /// "rx" or "tx".
        kind: &'static str,
        /// Requested.
        asked: u16,
        /// Driver maximum.
        max: u16,
    },
}

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// RX queues (one per worker).
    pub rx_queues: u16,
    /// TX queues (one per worker, plus control's where wanted).
    pub tx_queues: u16,
    /// Descriptors per RX queue.
    pub rx_desc: u16,
    /// Descriptors per TX queue.
    pub tx_desc: u16,
    /// Receive every frame, whatever its destination MAC.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            promiscuous: false,
        }
    }
}

/// Link state as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link up.
    pub up: bool,
    /// Mbit/s (0 when unknown).
    pub speed_mbps: u32,
}

/// Driver counters of one port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Received packets the device dropped (queue full).
    pub rx_missed: u64,
    /// Erroneous received packets.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_no_mbuf: u64,
}

struct PortShared {
    id: u16,
    name: String,
    created_vdev: bool,
    // Receive queues fill from this pool: it must outlive the port.
    _pool: Arc<Mempool>,
}

impl Drop for PortShared {
    fn drop(&mut self) {
        // SAFETY: the last queue and handle are gone, so no thread polls this port any more.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
        if self.created_vdev
            && let Ok(name) = CString::new(self.name.as_str())
        {
            // SAFETY: the device was created by rte_vdev_init under this name and is closed.
            unsafe { dpdk_sys::rte_vdev_uninit(name.as_ptr()) };
        }
    }
}

/// A started Ethernet port. Clones share it; it is stopped and closed when the last handle and
/// the last of its queues are gone.
#[derive(Clone)]
pub struct Port {
    shared: Arc<PortShared>,
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Port({} {})", self.shared.id, self.shared.name)
    }
}

fn check(port: &str, op: &'static str, rc: i32) -> Result<(), PortError> {
    if rc < 0 {
        Err(PortError::Dpdk {
            port: port.to_string(),
            op,
            errno: -rc,
            reason: super::error_string(rc),
        })
    } else {
        Ok(())
    }
}

impl Port {
    /// Create the virtual device described by `devargs` (`net_af_packet0,iface=veth0`, …; a
    /// device that EAL already created from `--vdev` is reused), configure its queues and start it.
    ///
    /// # Errors
    /// [`PortError`] naming the DPDK call that failed and why.
    pub fn open(
        devargs: &str,
        config: &PortConfig,
        pool: Arc<Mempool>,
    ) -> Result<(Port, Vec<RxQueue>, Vec<TxQueue>), PortError> {
        let (name, args) = devargs.split_once(',').unwrap_or((devargs, ""));
        let name = name.trim();
        if name.is_empty() {
            return Err(PortError::BadDevargs(devargs.to_string()));
        }
        let c_name = CString::new(name).map_err(|_| PortError::BadDevargs(devargs.to_string()))?;
        let c_args = CString::new(args).map_err(|_| PortError::BadDevargs(devargs.to_string()))?;
        let mut id: u16 = 0;
        // SAFETY: valid C string and out-pointer.
        let existing = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        let created_vdev = existing != 0;
        if created_vdev {
            // SAFETY: valid C strings; EAL is initialised.
            let rc = unsafe { dpdk_sys::rte_vdev_init(c_name.as_ptr(), c_args.as_ptr()) };
            check(name, "rte_vdev_init", rc)?;
            // SAFETY: as above.
            let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
            check(name, "rte_eth_dev_get_port_by_name", rc)?;
        }
        let port = Port {
            shared: Arc::new(PortShared {
                id,
                name: name.to_string(),
                created_vdev,
                _pool: pool.clone(),
            }),
        };
        port.configure(config, &pool)?;
        let rx = (0..config.rx_queues)
            .map(|queue| RxQueue {
                port: port.clone(),
                port_id: id,
                queue,
                _not_sync: PhantomData,
            })
            .collect();
        let tx = (0..config.tx_queues)
            .map(|queue| TxQueue {
                port: port.clone(),
                port_id: id,
                queue,
                _not_sync: PhantomData,
            })
            .collect();
        Ok((port, rx, tx))
    }

    fn configure(&self, config: &PortConfig, pool: &Mempool) -> Result<(), PortError> {
        let (id, name) = (self.shared.id, self.shared.name.as_str());
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        check(name, "rte_eth_dev_info_get", unsafe {
            dpdk_sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        for (kind, asked, max) in [
            ("rx", config.rx_queues, info.max_rx_queues),
            ("tx", config.tx_queues, info.max_tx_queues),
        ] {
            if asked > max {
                return Err(PortError::TooManyQueues {
                    port: name.to_string(),
                    kind,
                    asked,
                    max,
                });
            }
        }
        let conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: valid port id; conf lives across the call.
        check(name, "rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(id, config.rx_queues, config.tx_queues, &conf)
        })?;
        // SAFETY: valid port id.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) }.max(0) as u32;
        for queue in 0..config.rx_queues {
            // SAFETY: configured port; NULL rxconf means driver defaults; the pool outlives the
            // port (PortShared holds it).
            check(name, "rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    queue,
                    config.rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            })?;
        }
        for queue in 0..config.tx_queues {
            // SAFETY: configured port; NULL txconf means driver defaults.
            check(name, "rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(
                    id,
                    queue,
                    config.tx_desc,
                    socket,
                    std::ptr::null(),
                )
            })?;
        }
        if config.promiscuous {
            // SAFETY: valid port id.
            check(name, "rte_eth_promiscuous_enable", unsafe {
                dpdk_sys::rte_eth_promiscuous_enable(id)
            })?;
        }
        // SAFETY: configured port with every queue set up.
        check(name, "rte_eth_dev_start", unsafe {
            dpdk_sys::rte_eth_dev_start(id)
        })
    }

    /// DPDK's port id.
    pub fn id(&self) -> u16 {
        self.shared.id
    }

    /// The device name (`net_af_packet0`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Stop the port (link down towards the peer, queues idle). Queues stay owned by their
    /// workers; [`Port::start`] brings it back.
    ///
    /// # Errors
    /// [`PortError::Dpdk`] if the driver refuses.
    pub fn stop(&self) -> Result<(), PortError> {
        // SAFETY: valid port id; DPDK allows stopping a started port at any time.
        check(self.name(), "rte_eth_dev_stop", unsafe {
            dpdk_sys::rte_eth_dev_stop(self.shared.id)
        })
    }

    /// Start the port again after [`Port::stop`].
    ///
    /// # Errors
    /// [`PortError::Dpdk`] if the driver refuses.
    pub fn start(&self) -> Result<(), PortError> {
        // SAFETY: valid, configured port id.
        check(self.name(), "rte_eth_dev_start", unsafe {
            dpdk_sys::rte_eth_dev_start(self.shared.id)
        })
    }

    /// The port's MAC address.
    ///
    /// # Errors
    /// [`PortError::Dpdk`] if the driver cannot tell.
    pub fn mac(&self) -> Result<[u8; 6], PortError> {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        check(self.name(), "rte_eth_macaddr_get", unsafe {
            dpdk_sys::rte_eth_macaddr_get(self.shared.id, &mut addr)
        })?;
        Ok(addr.addr_bytes)
    }

    /// Current link state, without waiting.
    ///
    /// # Errors
    /// [`PortError::Dpdk`] if the driver cannot tell.
    pub fn link(&self) -> Result<LinkStatus, PortError> {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port id and out-pointer.
        check(self.name(), "rte_eth_link_get_nowait", unsafe {
            dpdk_sys::rte_eth_link_get_nowait(self.shared.id, &mut link)
        })?;
        Ok(LinkStatus {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
        })
    }

    /// The driver's counters.
    ///
    /// # Errors
    /// [`PortError::Dpdk`] if the driver cannot tell.
    pub fn stats(&self) -> Result<PortStats, PortError> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port id and out-pointer.
        check(self.name(), "rte_eth_stats_get", unsafe {
            dpdk_sys::rte_eth_stats_get(self.shared.id, &mut s)
        })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_no_mbuf: s.rx_nombuf,
        })
    }

    /// Receive every frame (needed for a virtual MAC where the driver has no MAC filter).
    ///
    /// # Errors
    /// [`PortError::Dpdk`] if the driver refuses.
    pub fn set_promiscuous(&self, on: bool) -> Result<(), PortError> {
        // SAFETY: valid port id.
        let rc = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.shared.id)
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.shared.id)
            }
        };
        check(self.name(), "rte_eth_promiscuous_enable/disable", rc)
    }

    /// Accept frames to an extra unicast MAC (a CARP virtual MAC).
    ///
    /// # Errors
    /// [`PortError::Dpdk`] if the driver has no room or no MAC filter (then use promiscuous).
    pub fn add_mac(&self, mac: [u8; 6]) -> Result<(), PortError> {
        let mut addr = dpdk_sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: valid port id and pointer.
        check(self.name(), "rte_eth_dev_mac_addr_add", unsafe {
            dpdk_sys::rte_eth_dev_mac_addr_add(self.shared.id, &mut addr, 0)
        })
    }
}

/// One receive queue, polled by exactly one thread.
#[derive(Debug)]
pub struct RxQueue {
    port: Port,
    port_id: u16,
    queue: u16,
    // Send but not Sync: DPDK's burst functions must not run concurrently on one queue.
    _not_sync: PhantomData<Cell<()>>,
}

/// One transmit queue, used by exactly one thread.
#[derive(Debug)]
pub struct TxQueue {
    port: Port,
    port_id: u16,
    queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

impl RxQueue {
    /// The port this queue belongs to.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// The queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Receive up to [`BURST_SIZE`] packets into `batch` (whose previous contents are freed).
    #[inline]
    pub fn recv(&mut self, batch: &mut RxBatch) -> usize {
        for _ in batch.by_ref() {}
        // SAFETY: this thread owns the queue (&mut self, !Sync); the array has BURST_SIZE slots.
        let n = unsafe {
            dpdk_sys::rte_eth_rx_burst(
                self.port_id,
                self.queue,
                batch.ptrs.as_mut_ptr(),
                BURST_SIZE as u16,
            )
        };
        batch.len = usize::from(n);
        batch.next = 0;
        batch.len
    }
}

impl TxQueue {
    /// The port this queue belongs to.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// The queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Send every packet in `pkts` (emptying it). The driver gets a few chances to take a full
    /// ring; whatever it still refuses is freed. Returns packets and bytes sent.
    pub fn send(&mut self, pkts: &mut Vec<Mbuf>) -> (usize, u64) {
        let (mut sent, mut bytes) = (0, 0u64);
        let mut ptrs: [*mut rte_mbuf; BURST_SIZE] = [std::ptr::null_mut(); BURST_SIZE];
        let mut lens = [0u32; BURST_SIZE];
        while !pkts.is_empty() {
            let take = pkts.len().min(BURST_SIZE);
            let mut n = 0;
            for mbuf in pkts.drain(..take) {
                lens[n] = mbuf.pkt_len();
                ptrs[n] = mbuf.into_raw().as_ptr();
                n += 1;
            }
            let mut done = 0;
            for _attempt in 0..4 {
                // SAFETY: this thread owns the queue; ptrs[done..n] are mbufs we own. The
                // driver takes ownership of the first `accepted` of them.
                let accepted = unsafe {
                    dpdk_sys::rte_eth_tx_burst(
                        self.port_id,
                        self.queue,
                        ptrs.as_mut_ptr().add(done),
                        (n - done) as u16,
                    )
                };
                done += usize::from(accepted);
                if done == n {
                    break;
                }
            }
            sent += done;
            bytes += lens[..done].iter().map(|&l| u64::from(l)).sum::<u64>();
            for raw in &ptrs[done..n] {
                if let Some(raw) = NonNull::new(*raw) {
                    // SAFETY: the driver refused these; we still own them and free them here.
                    drop(unsafe { Mbuf::from_raw(raw) });
                }
            }
        }
        (sent, bytes)
    }
}
