// SPDX-License-Identifier: GPL-2.0
/*
 * mailbox: the VF<->PF mailbox through the (trapped) BAR0 page 0, driven by
 * the userspace VF driver: VF_RESET returns the admin MAC, then the PF's
 * answers to SET_MAC (NACK: the admin set the MAC and the VF is not
 * trusted), SET_MULTICAST, SET_VLAN add/remove, SET_LPE (ACK) and an
 * unknown message (NACK).  Every reply must carry CTS after the reset.
 *
 * Usage: mailbox [BDF]   (default IVF_VF2; IVF_VF2_MAC checked if set)
 */
#include <errno.h>
#include <string.h>

#include "ivf.h"
#include "ktap.h"
#include "util.h"

KTAP_DEFINE_STATE();

static void check_xfer(struct ivf *v, const uint32_t *msg, unsigned int n,
		       int want, const char *what)
{
	uint32_t reply = 0;
	int ret = ivf_mbx_xfer(v, msg, n, &reply, 1);

	ktap_check(ret == want && (reply & IVF_MSG_CTS) &&
		   (reply & IVF_MSG_TYPE_MASK) == (msg[0] & IVF_MSG_TYPE_MASK),
		   "%s: %s with CTS (reply 0x%08x, %s)", what,
		   want ? "NACK" : "ACK", reply, ret ? strerror(-ret) : "ok");
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : env_need("IVF_VF2");
	const char *want_mac = argc > 1 ? NULL : env_get("IVF_VF2_MAC");
	static const uint16_t hashes[3] = { 0x0123, 0x0456, 0x0789 };
	uint8_t mac[6], other[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	uint32_t msg[IVF_VMBMEM_WORDS] = { 0 };
	char m[18];
	struct vfio_dev d;
	struct ivf v;
	int ret, i;

	ktap_header("mailbox: PF mailbox transactions from the VF");
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (!ktap_check(!ret, "userspace VF driver up"))
		goto out;

	for (i = 0; i < 2; i++) {
		ret = ivf_reset(&v);
		ivf_format_mac(v.mac, m);
		ktap_check(!ret && v.cts && v.mac_valid,
			   "reset #%d: VF_RESET acked with MAC %s (%s)", i, m,
			   ret ? strerror(-ret) : "ok");
	}
	if (want_mac && !ivf_parse_mac(want_mac, mac))
		ktap_check(!memcmp(mac, v.mac, 6), "MAC is the admin MAC %s",
			   want_mac);

	/* SET_MAC: admin MAC set, VF untrusted -> NACK, for any address */
	msg[0] = IVF_MSG_SET_MAC_ADDR;
	msg[1] = other[0] | other[1] << 8 | other[2] << 16 |
		 (uint32_t)other[3] << 24;
	msg[2] = other[4] | other[5] << 8;
	check_xfer(&v, msg, 3, -EPERM, "SET_MAC_ADDR 02:11:22:33:44:55");
	ret = ivf_set_mac(&v, other);
	ktap_check(ret == -EPERM, "ivf_set_mac() reports the NACK (%s)",
		   ret ? strerror(-ret) : "ok");

	/* multicast hashes */
	memset(msg, 0, sizeof(msg));
	ret = ivf_set_multicast(&v, hashes, 3);
	ktap_check(!ret, "SET_MULTICAST with 3 hashes acked (%s)",
		   ret ? strerror(-ret) : "ok");
	ret = ivf_set_multicast(&v, hashes, 0);
	ktap_check(!ret, "SET_MULTICAST with 0 hashes acked (%s)",
		   ret ? strerror(-ret) : "ok");

	/* VLAN add/remove */
	ret = ivf_set_vlan(&v, 100, true);
	ktap_check(!ret, "SET_VLAN add 100 acked (%s)", ret ? strerror(-ret) : "ok");
	ret = ivf_set_vlan(&v, 100, false);
	ktap_check(!ret, "SET_VLAN remove 100 acked (%s)",
		   ret ? strerror(-ret) : "ok");

	/* max frame */
	msg[0] = IVF_MSG_SET_LPE;
	msg[1] = 9018;
	check_xfer(&v, msg, 2, 0, "SET_LPE 9018");
	ret = ivf_set_lpe(&v, 1522);
	ktap_check(!ret, "SET_LPE 1522 acked (%s)", ret ? strerror(-ret) : "ok");

	/* unknown message */
	msg[0] = 0x0077;
	check_xfer(&v, msg, 1, -EPERM, "unknown message 0x77");

	ktap_check(v.io_errors == 0, "no register access errors (%lu)",
		   v.io_errors);
	ivf_close(&v);
out:
	vfio_dev_close(&d);
	ktap_finish();
}
