/* The DPDK API surface rampart binds. rte_config.h must come first. */
#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ring.h>
#include <rte_bus_vdev.h>
#include <rte_version.h>

/* rte_errno is a per-lcore TLS macro: bindgen cannot bind it. */
int dpdk_sys_errno(void);
/* rte_version() returns a static string; bound directly. The numeric version is a macro set. */
unsigned int dpdk_sys_version_year(void);
unsigned int dpdk_sys_version_month(void);
