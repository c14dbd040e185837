/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Intel 82576 Virtual Function (8086:10ca): BAR0 register map, advanced
 * descriptor layouts and VF<->PF mailbox protocol.
 *
 * Shared by the igbvf-vfio-pci module and the userspace selftests, so it
 * only contains plain defines and fixed-layout structs.  All offsets are
 * relative to the start of the VF's BAR0 (16 KiB, 32-bit accesses only).
 */
#ifndef IVF_REGS_H
#define IVF_REGS_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#include <linux/types.h>
#endif

#define IVF_PCI_VENDOR_ID	0x8086
#define IVF_PCI_DEVICE_ID	0x10ca

#define IVF_BAR0_SIZE		0x4000
#define IVF_BAR_PAGE_SIZE	0x1000
#define IVF_BAR0_PAGE(off)	((off) >> 12)
#define IVF_MSIX_BAR		3
#define IVF_MSIX_VECTORS	3

/* ---- Page 0: control, mailbox, statistics (trapped by the driver) ---- */
#define IVF_CTRL		0x0000	/* VTCTRL; only RST acts */
#define IVF_CTRL_DUP		0x0004
#define IVF_STATUS		0x0008	/* mirrors the PF's STATUS */
#define IVF_VMBMEM(n)		(0x0800 + 4 * (n))	/* mailbox words */
#define IVF_VMBMEM_WORDS	16
#define IVF_V2PMAILBOX		0x0C40
#define IVF_PBACL		0x0F04	/* do not write (acts on PF) */
#define IVF_PSRTYPE		0x0F0C

/* Statistics: read-only, survive VF reset, 32-bit wrapping */
#define IVF_VFGPRC		0x0F10	/* good packets received */
#define IVF_VFGPTC		0x0F14	/* good packets transmitted */
#define IVF_VFGORC		0x0F18	/* good octets received */
#define IVF_VFGOTC		0x0F34	/* good octets transmitted */
#define IVF_VFMPRC		0x0F3C	/* multicast packets received */
#define IVF_VFGPRLBC		0x0F40	/* loopback packets received */
#define IVF_VFGPTLBC		0x0F44	/* loopback packets transmitted */
#define IVF_VFGORLBC		0x0F48	/* loopback octets received */
#define IVF_VFGOTLBC		0x0F50	/* loopback octets transmitted */

/* CTRL bits */
#define IVF_CTRL_RST		0x04000000

/* STATUS bits */
#define IVF_STATUS_FD		0x00000001
#define IVF_STATUS_LU		0x00000002
#define IVF_STATUS_TXOFF	0x00000010
#define IVF_STATUS_SPEED_MASK	0x000000C0
#define IVF_STATUS_SPEED_10	0x00000000
#define IVF_STATUS_SPEED_100	0x00000040
#define IVF_STATUS_SPEED_1000	0x00000080

/* ---- Page 1: interrupts ---- */
#define IVF_FRTIMER		0x1048
#define IVF_EICS		0x1520
#define IVF_EIMS		0x1524
#define IVF_EIMC		0x1528
#define IVF_EIAC		0x152C
#define IVF_EIAM		0x1530
#define IVF_EICR		0x1580
#define IVF_EITR(n)		(0x1680 + 4 * (n))
#define IVF_IVAR0		0x1700
#define IVF_IVAR_MISC		0x1740

#define IVF_EITR_INTERVAL_MASK	0x00007FFC
#define IVF_IVAR_VALID		0x80
/* IVAR0 layout: byte 0 = RX queue 0 vector, byte 1 = TX queue 0 vector */
#define IVF_IVAR0_RX0_SHIFT	0
#define IVF_IVAR0_TX0_SHIFT	8

/* ---- Page 2: RX queues (n = 0, 1) ---- */
#define IVF_RDBAL(n)		(0x2800 + 0x100 * (n))
#define IVF_RDBAH(n)		(0x2804 + 0x100 * (n))
#define IVF_RDLEN(n)		(0x2808 + 0x100 * (n))
#define IVF_SRRCTL(n)		(0x280C + 0x100 * (n))
#define IVF_RDH(n)		(0x2810 + 0x100 * (n))
#define IVF_RXCTL(n)		(0x2814 + 0x100 * (n))
#define IVF_RDT(n)		(0x2818 + 0x100 * (n))
#define IVF_RXDCTL(n)		(0x2828 + 0x100 * (n))
#define IVF_RQDPC(n)		(0x2830 + 0x100 * (n))

/* ---- Page 3: TX queues (n = 0, 1) ---- */
#define IVF_TDBAL(n)		(0x3800 + 0x100 * (n))
#define IVF_TDBAH(n)		(0x3804 + 0x100 * (n))
#define IVF_TDLEN(n)		(0x3808 + 0x100 * (n))
#define IVF_TDH(n)		(0x3810 + 0x100 * (n))
#define IVF_TXCTL(n)		(0x3814 + 0x100 * (n))
#define IVF_TDT(n)		(0x3818 + 0x100 * (n))
#define IVF_TXDCTL(n)		(0x3828 + 0x100 * (n))
#define IVF_TDWBAL(n)		(0x3838 + 0x100 * (n))
#define IVF_TDWBAH(n)		(0x383C + 0x100 * (n))

#define IVF_NUM_QUEUES		2
/* Queue n + 1's registers are this far after queue n's, RX and TX alike */
#define IVF_QUEUE_STRIDE	0x100

/* RXDCTL / TXDCTL */
#define IVF_XDCTL_ENABLE	0x02000000
#define IVF_XDCTL_PTHRESH(x)	((x) & 0x1F)
#define IVF_XDCTL_HTHRESH(x)	(((x) & 0x1F) << 8)
#define IVF_XDCTL_WTHRESH(x)	(((x) & 0x1F) << 16)

/* SRRCTL */
#define IVF_SRRCTL_BSIZEPKT_SHIFT	10	/* bytes >> 10 = field */
#define IVF_SRRCTL_BSIZEPKT_MASK	0x0000007F
#define IVF_SRRCTL_BSIZEHDR_SHIFT	2	/* (bytes >> 6) << 8 */
#define IVF_SRRCTL_BSIZEHDR_MASK	0x00003F00
#define IVF_SRRCTL_DESCTYPE_MASK	0x0E000000
#define IVF_SRRCTL_DESCTYPE_ONEBUF	0x02000000
#define IVF_SRRCTL_DESCTYPE_HDR_SPLIT	0x04000000
#define IVF_SRRCTL_DESCTYPE_SPLIT_ALWAYS 0x0A000000
#define IVF_SRRCTL_DROP_EN		0x80000000

/* TXCTL (DCA_TXCTRL) */
#define IVF_TXCTL_WB_RO_EN	0x00000800

/* TDWBAL */
#define IVF_TDWBAL_ENABLE	0x00000001

/* ---- Advanced RX descriptor (16 bytes) ---- */
struct ivf_rx_desc_read {
	__le64 pkt_addr;
	__le64 hdr_addr;		/* bit 0 must be 0 */
};

struct ivf_rx_desc_wb {
	__le16 pkt_info;		/* packet type / RSS type */
	__le16 hdr_info;		/* split header length, SPH */
	__le32 rss_or_ipid;		/* RSS hash or IP id + checksum */
	__le32 status_error;
	__le16 length;			/* packet (or payload buffer) length */
	__le16 vlan;
};

union ivf_rx_desc {
	struct ivf_rx_desc_read read;
	struct ivf_rx_desc_wb wb;
};

/* status_error, low bits: status; high bits: errors */
#define IVF_RXD_STAT_DD		0x00000001
#define IVF_RXD_STAT_EOP	0x00000002
#define IVF_RXD_STAT_VP		0x00000008
#define IVF_RXD_STAT_UDPCS	0x00000010
#define IVF_RXD_STAT_L4CS	0x00000020
#define IVF_RXD_STAT_IPCS	0x00000040
#define IVF_RXD_STAT_LB		0x00040000
#define IVF_RXD_ERR_CE		0x01000000
#define IVF_RXD_ERR_SE		0x02000000
#define IVF_RXD_ERR_SEQ		0x04000000
#define IVF_RXD_ERR_CXE		0x10000000
#define IVF_RXD_ERR_TCPE	0x20000000
#define IVF_RXD_ERR_IPE		0x40000000
#define IVF_RXD_ERR_RXE		0x80000000
#define IVF_RXD_ERR_FRAME_MASK	(IVF_RXD_ERR_CE | IVF_RXD_ERR_SE | \
				 IVF_RXD_ERR_SEQ | IVF_RXD_ERR_CXE | \
				 IVF_RXD_ERR_RXE)

/* hdr_info */
#define IVF_RXD_HDRLEN_MASK	0x7FE0
#define IVF_RXD_HDRLEN_SHIFT	5
#define IVF_RXD_SPH		0x8000	/* header split into hdr buffer */

/* ---- Advanced TX descriptors (16 bytes) ---- */
struct ivf_tx_desc_read {
	__le64 buffer_addr;
	__le32 cmd_type_len;
	__le32 olinfo_status;
};

struct ivf_tx_desc_wb {
	__le64 rsvd;
	__le32 nxtseq_seed;
	__le32 status;
};

union ivf_tx_desc {
	struct ivf_tx_desc_read read;
	struct ivf_tx_desc_wb wb;
};

struct ivf_tx_ctx_desc {
	__le32 vlan_macip_lens;
	__le32 seqnum_seed;
	__le32 type_tucmd_mlhl;
	__le32 mss_l4len_idx;
};

/* cmd_type_len */
#define IVF_TXD_LEN_MASK	0x0000FFFF
#define IVF_TXD_DTYP_CTXT	0x00200000
#define IVF_TXD_DTYP_DATA	0x00300000
#define IVF_TXD_CMD_EOP		0x01000000
#define IVF_TXD_CMD_IFCS	0x02000000
#define IVF_TXD_CMD_RS		0x08000000
#define IVF_TXD_CMD_DEXT	0x20000000
#define IVF_TXD_CMD_VLE		0x40000000
#define IVF_TXD_CMD_TSE		0x80000000
/* olinfo_status */
#define IVF_TXD_STAT_DD		0x00000001
#define IVF_TXD_POPTS_SHIFT	8
#define IVF_TXD_PAYLEN_SHIFT	14

/* Descriptor ring lengths must be a multiple of 128 bytes (8 descriptors) */
#define IVF_RING_ALIGN_DESC	8
/* Advanced RX/TX descriptors are 16 bytes; RDLEN/TDLEN hold whole 128s. */
#define IVF_DESC_SIZE		16
#define IVF_RING_LEN_MASK	0x000FFF80
/* The longest ring RDLEN/TDLEN can hold, in bytes */
#define IVF_RING_LEN_MAX	IVF_RING_LEN_MASK
/* RDH/RDT/TDH/TDT: a 16-bit descriptor index */
#define IVF_RING_IDX_MASK	0x0000FFFF

/* ---- V2PMAILBOX bits ---- */
#define IVF_MBX_REQ		0x00000001	/* VF: send request to PF */
#define IVF_MBX_ACK		0x00000002	/* VF: ack PF message */
#define IVF_MBX_VFU		0x00000004	/* VF owns the buffer */
#define IVF_MBX_PFU		0x00000008	/* PF owns the buffer */
#define IVF_MBX_PFSTS		0x00000010	/* PF posted a message (R2C) */
#define IVF_MBX_PFACK		0x00000020	/* PF acked VF message (R2C) */
#define IVF_MBX_RSTI		0x00000040	/* PF reset in progress */
#define IVF_MBX_RSTD		0x00000080	/* PF reset done (R2C) */
#define IVF_MBX_R2C_BITS	(IVF_MBX_PFSTS | IVF_MBX_PFACK | IVF_MBX_RSTD)

/* ---- Mailbox message word 0 ---- */
#define IVF_MSG_TYPE_MASK	0x0000FFFF
#define IVF_MSG_INFO_SHIFT	16
#define IVF_MSG_INFO_MASK	0x00FF0000
#define IVF_MSG_CTS		0x20000000	/* VF is clear to send */
#define IVF_MSG_NACK		0x40000000
#define IVF_MSG_ACK		0x80000000

#define IVF_MSG_VF_RESET	0x0001
#define IVF_MSG_SET_MAC_ADDR	0x0002
#define IVF_MSG_MAC_FILTER_CLR	(0x01 << IVF_MSG_INFO_SHIFT)
#define IVF_MSG_MAC_FILTER_ADD	(0x02 << IVF_MSG_INFO_SHIFT)
#define IVF_MSG_SET_MULTICAST	0x0003	/* info = count, u16 hashes */
#define IVF_MSG_SET_VLAN	0x0004	/* info = 1 add / 0 remove */
#define IVF_MSG_SET_LPE		0x0005	/* word 1 = max frame size */
#define IVF_MSG_SET_PROMISC	0x0006
#define IVF_MSG_PROMISC_MULTICAST (0x02 << IVF_MSG_INFO_SHIFT)
#define IVF_MSG_PF_CONTROL	0x0100	/* PF ping */

#define IVF_MAX_MC_HASHES	30
#define IVF_VF_RESET_REPLY_WORDS 3

/* igbvf's timings: 2000 polls x 500 us for a mailbox reply */
#define IVF_MBX_POLL_COUNT	2000
#define IVF_MBX_POLL_US		500

#endif /* IVF_REGS_H */
