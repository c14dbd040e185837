/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * igbvf-vfio-pci migration stream: the bytes read from the source VF's
 * migration data fd and written to the destination's.
 *
 * This is ABI. A destination driver must load every stream an older source
 * driver of the same major version produced; a change that an older
 * destination cannot load needs a new major version.
 *
 * Layout
 * ------
 * The stream is a sequence of packets, back to back. Every packet is
 * self-contained: a header (struct ivf_mig_hdr) followed by records. All
 * fields are little-endian.
 *
 * - PRE_COPY emits a CONFIG packet: one IVF_MIG_REC_PF_CONFIG record, so
 *   the destination can check the stream (identity, version, checksum)
 *   before the switchover. If the guest changes its PF configuration while
 *   the device stays in PRE_COPY, another CONFIG packet follows.
 * - STOP_COPY emits the FINAL packet with the whole device state. Nothing
 *   may follow it.
 *
 * A packet:
 *   magic	IVF_MIG_MAGIC
 *   major	IVF_MIG_MAJOR: a destination refuses a larger one
 *   minor	IVF_MIG_MINOR: additions an older destination may skip
 *   vendor,	the PCI identity of the source (8086:10ca); a destination
 *   device	refuses any other
 *   kind	IVF_MIG_PKT_CONFIG or IVF_MIG_PKT_FINAL
 *   length	bytes of the whole packet, header included, at most
 *		IVF_MIG_MAX_PACKET
 *   crc32c	CRC32C (Castagnoli, seed ~0, final inversion, as the
 *		kernel's crc32c()) of the whole packet with this field zero
 * Then records, each 8-byte aligned:
 *   type	IVF_MIG_REC_*
 *   flags	IVF_MIG_REC_MANDATORY: a destination that does not know
 *		the type must refuse the stream; without it, skip it
 *   length	payload bytes after this header; the next record starts
 *		at the next multiple of 8
 * The records must exactly fill the packet. A known record must be at least
 * as long as its struct in this file (a longer one has fields from a newer
 * minor version, which are ignored).
 *
 * A FINAL packet must hold PF_CONFIG, QUEUES, IRQ and MAILBOX records.
 *
 * Errors a destination's write() returns (and logs):
 *   EINVAL		bad magic, unknown kind, data after the FINAL packet
 *   EPROTONOSUPPORT	major version newer than the driver's
 *   EXDEV		stream of another device type
 *   EMSGSIZE		packet length out of bounds, or a record that
 *			overruns its packet
 *   EBADMSG		CRC mismatch, malformed or inconsistent record
 *   EPROTO		unknown mandatory record, missing record
 * A stream refused for its content never reaches the device. A valid
 * CONFIG packet is checked against the destination PF at once (the VF is
 * reset and the configuration replayed through its mailbox), so that a PF
 * that would refuse it fails the migration before the source stops; the
 * state itself is applied in the RESUMING -> STOP arc, which fails with
 * ENODATA if no FINAL packet arrived. Refusals of the destination PF, from
 * write() of a CONFIG packet or from RESUMING -> STOP:
 *   EADDRNOTAVAIL	the PF refused the MAC: the destination VF has another
 *			admin MAC
 *   ENOSPC		the PF refused an extra unicast filter
 *   EREMOTEIO		the PF refused a VLAN (port VLAN, table full), the
 *			multicast list, the max frame or promiscuous mode
 *   EAGAIN		the PF is resetting or down (mailbox RSTI set)
 *   ETIMEDOUT		the PF does not answer the mailbox
 *   EPROTO		the PF answered something unexpected
 */
#ifndef IVF_MIGRATION_H
#define IVF_MIGRATION_H

#include <linux/types.h>

/*
 * The VFIO migration states' names, indexed by enum vfio_device_mig_state,
 * for the driver's debugfs and the tests' output alike (where it is used,
 * <linux/vfio.h> is included).
 */
#define IVF_MIG_STATE_NAMES {						\
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",				\
	[VFIO_DEVICE_STATE_STOP] = "STOP",				\
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",			\
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",			\
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",			\
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",		\
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",			\
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",		\
}

#define IVF_MIG_MAGIC		0x4d465649	/* "IVFM" */
#define IVF_MIG_MAJOR		1
#define IVF_MIG_MINOR		0
#define IVF_MIG_MAX_PACKET	4096

#define IVF_MIG_PKT_CONFIG	1
#define IVF_MIG_PKT_FINAL	2

struct ivf_mig_hdr {
	__le32 magic;
	__le16 major;
	__le16 minor;
	__le16 vendor;
	__le16 device;
	__le16 kind;
	__le16 reserved;	/* 0 when written, ignored when read */
	__le32 length;
	__le32 crc32c;
};				/* 24 bytes */

struct ivf_mig_rec {
	__le16 type;
	__le16 flags;
	__le32 length;
};				/* 8 bytes */

#define IVF_MIG_REC_MANDATORY	0x0001

#define IVF_MIG_REC_PF_CONFIG	1	/* struct ivf_mig_pf_config */
#define IVF_MIG_REC_QUEUES	2	/* struct ivf_mig_queues */
#define IVF_MIG_REC_IRQ		3	/* struct ivf_mig_irq */
#define IVF_MIG_REC_MAILBOX	4	/* struct ivf_mig_mailbox */
#define IVF_MIG_REC_STATS	5	/* struct ivf_mig_stats (optional) */

/*
 * The VF's configuration as the source PF acknowledged it, learnt from the
 * guest's mailbox traffic; replayed to the destination PF.
 */
#define IVF_MIG_CFG_CTS		0x01	/* the PF answered VF_RESET */
#define IVF_MIG_CFG_MAC		0x02	/* mac is valid */
#define IVF_MIG_MAX_UC		3
#define IVF_MIG_MAX_MC		30
struct ivf_mig_pf_config {
	__le32 flags;		/* IVF_MIG_CFG_* */
	__u8 mac[6];
	__u8 n_uc;		/* <= IVF_MIG_MAX_UC */
	__u8 n_mc;		/* <= IVF_MIG_MAX_MC */
	__u8 uc[IVF_MIG_MAX_UC][6];
	__u8 pad[2];
	__le16 mc[IVF_MIG_MAX_MC];	/* multicast hashes */
	__le32 max_frame;	/* SET_LPE; 0 = never set */
	__le32 promisc;		/* SET_PROMISC info bits */
	__le64 vlans[64];	/* bit v of the 4096: VLAN v added */
};

/* Registers of one queue pair, as the guest programmed them. */
struct ivf_mig_queue {
	__le32 rdbal, rdbah, rdlen, srrctl, rdh, rdt, rxdctl;
	__le32 tdbal, tdbah, tdlen, tdh, tdt, txdctl, txctl, tdwbal, tdwbah;
};

struct ivf_mig_queues {
	struct ivf_mig_queue q[2];
};

struct ivf_mig_irq {
	__le32 eims;		/* the interrupt mask to put back (vf.c) */
	__le32 eiac;
	__le32 eiam;
	__le32 eitr[3];
	__le32 ivar0;
	__le32 ivar_misc;
};

#define IVF_MIG_MBX_REQ_PENDING	0x01	/* req awaits the PF's reply */
#define IVF_MIG_MBX_VFU		0x02	/* the guest held the mailbox */
struct ivf_mig_mailbox {
	__le32 flags;		/* IVF_MIG_MBX_* */
	__le32 r2c;		/* PFSTS/PFACK/RSTD the guest has not read */
	__le32 vmbmem[16];	/* mailbox memory as the guest sees it */
	__le32 req[16];		/* the pending request */
};

/* Statistics as the guest last could read them (page 0 counters). */
#define IVF_MIG_NSTATS		9
struct ivf_mig_stats {
	__le32 val[IVF_MIG_NSTATS];	/* VFGPRC VFGPTC VFGORC VFGOTC VFMPRC
					 * VFGPRLBC VFGPTLBC VFGORLBC VFGOTLBC
					 */
	__le32 pad;
};

/* The payload a known record type needs at least; 0 for unknown types. */
static inline __u32 ivf_mig_rec_min_len(__u16 type)
{
	switch (type) {
	case IVF_MIG_REC_PF_CONFIG:
		return sizeof(struct ivf_mig_pf_config);
	case IVF_MIG_REC_QUEUES:
		return sizeof(struct ivf_mig_queues);
	case IVF_MIG_REC_IRQ:
		return sizeof(struct ivf_mig_irq);
	case IVF_MIG_REC_MAILBOX:
		return sizeof(struct ivf_mig_mailbox);
	case IVF_MIG_REC_STATS:
		return sizeof(struct ivf_mig_stats);
	}
	return 0;
}

#endif /* IVF_MIGRATION_H */
