/* Macros and TLS that bindgen cannot reach, as plain functions. */
#include "wrapper.h"

int dpdk_sys_errno(void) { return rte_errno; }
unsigned int dpdk_sys_version_year(void) { return RTE_VER_YEAR; }
unsigned int dpdk_sys_version_month(void) { return RTE_VER_MONTH; }
