//! The DPDK wrappers under real EAL over `net_ring` (no NIC, no hugepages): mbuf ownership
//! through a loopback ring port, pool accounting, and clear errors for bad requests.
//! One test per file: EAL starts once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::sync::Arc;

use rampart_dataplane::dpdk::{
    Eal, EalError, EalOptions, Mempool, Port, PortConfig, PortError, RxBatch, dpdk_version,
    mbuf_ring,
};

#[test]
fn wrappers_over_net_ring() {
    let eal = Eal::init(&EalOptions::new(format!("rt-wrap-{}", std::process::id()))).unwrap();
    assert!(
        dpdk_version().starts_with("DPDK 22.11"),
        "{}",
        dpdk_version()
    );
    assert!(matches!(
        Eal::init(&EalOptions::new("again")),
        Err(EalError::AlreadyInitialised)
    ));

    let pool = Arc::new(Mempool::new("test_pool", 1023, 0).unwrap());
    assert_eq!(pool.in_use(), 0);

    // Errors name the call and the reason; nothing panics.
    let err = Port::open("net_nosuchdriver0", &PortConfig::default(), pool.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            PortError::Dpdk {
                op: "rte_vdev_init",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        Port::open("", &PortConfig::default(), pool.clone()),
        Err(PortError::BadDevargs(_))
    ));
    let greedy = PortConfig {
        rx_queues: 64,
        tx_queues: 64,
        ..PortConfig::default()
    };
    let err = Port::open("net_ring7", &greedy, pool.clone()).unwrap_err();
    assert!(matches!(err, PortError::TooManyQueues { .. }), "{err}");

    // net_ring created this way loops each TX queue back into the RX queue of the same index.
    let config = PortConfig {
        rx_desc: 256,
        tx_desc: 256,
        ..PortConfig::default()
    };
    let (port, mut rx, mut tx) = Port::open("net_ring0", &config, pool.clone()).unwrap();
    assert_eq!(port.name(), "net_ring0");
    assert!(port.link().unwrap().up);
    let rx_pool_share = pool.in_use();

    let mut pkts = Vec::new();
    for i in 0..40u8 {
        let mut m = pool.alloc().unwrap();
        m.append(60).unwrap().fill(i);
        assert_eq!(m.data().len(), 60);
        assert!(!m.is_chained());
        pkts.push(m);
    }
    assert_eq!(pool.in_use(), rx_pool_share + 40);
    let (sent, bytes) = tx[0].send(&mut pkts);
    assert_eq!((sent, bytes), (40, 40 * 60));
    assert!(pkts.is_empty(), "send takes every packet");

    let mut batch = RxBatch::default();
    let mut seen = Vec::new();
    for _ in 0..10 {
        rx[0].recv(&mut batch);
        for mut m in batch.by_ref() {
            seen.push(m.data()[0]);
            assert!(m.set_len(14));
            assert_eq!(m.data_mut().len(), 14);
        }
    }
    assert_eq!(
        seen,
        (0..40u8).collect::<Vec<_>>(),
        "every packet, in order, once"
    );
    // Received mbufs were dropped (freed) as the loop went on.
    assert_eq!(pool.in_use(), rx_pool_share);

    // An unread batch frees its packets when dropped.
    let mut pkts: Vec<_> = (0..8).map(|_| pool.alloc().unwrap()).collect();
    tx[0].send(&mut pkts);
    let mut batch = RxBatch::default();
    assert_eq!(rx[0].recv(&mut batch), 8);
    drop(batch);
    assert_eq!(pool.in_use(), rx_pool_share);

    port.stop().unwrap();
    port.start().unwrap();
    port.set_promiscuous(true).unwrap();
    let stats = port.stats().unwrap();
    assert_eq!((stats.tx_packets, stats.rx_packets), (48, 48));
    // An SP/SC ring hands mbufs from one thread to another, in order, none lost.
    let (mut producer, mut consumer) = mbuf_ring("handoff", 64).unwrap();
    assert!(
        mbuf_ring("bad", 48).is_err(),
        "capacity must be a power of two"
    );
    let sender_pool = pool.clone();
    let sender = std::thread::spawn(move || {
        let mut refused = 0;
        for i in 0..200u32 {
            let mut m = sender_pool.alloc().unwrap();
            m.append(4).unwrap().copy_from_slice(&i.to_be_bytes());
            let mut one = vec![m];
            while producer.send(&mut one) == 0 {
                refused += 1;
                std::thread::yield_now();
            }
        }
        refused
    });
    let mut got = Vec::new();
    let mut batch = RxBatch::default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while got.len() < 200 && std::time::Instant::now() < deadline {
        consumer.recv(&mut batch);
        for m in batch.by_ref() {
            got.push(u32::from_be_bytes(m.data().try_into().unwrap()));
        }
    }
    let _refused_while_full = sender.join().unwrap();
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    drop((consumer, batch));
    assert_eq!(pool.in_use(), rx_pool_share);
    // Dropping both ends frees what is still queued.
    let (mut producer, consumer) = mbuf_ring("leftover", 16).unwrap();
    let mut pkts: Vec<_> = (0..20).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(producer.send(&mut pkts), 15, "a ring of 16 holds 15");
    assert_eq!(pkts.len(), 5, "the refused stay with the caller");
    drop(pkts);
    drop((producer, consumer));
    assert_eq!(pool.in_use(), rx_pool_share);

    drop((rx, tx, port));
    drop(pool);
    drop(eal);
}
