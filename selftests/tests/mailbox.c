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

/*
 * The driver's log of what the PF acknowledged, from debugfs: check that
 * line KEY reads WANT.
 */
static void expect_log(const char *bdf, const char *key, const char *want)
{
	char path[256], buf[1024], line[256] = "";
	const char *p;
	size_t klen = strlen(key);
	int ret;

	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/igbvf-vfio-pci/%s/pf_config", bdf);
	ret = read_str_file(path, buf, sizeof(buf));
	for (p = ret ? "" : buf; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			snprintf(line, sizeof(line), "%.*s",
				 (int)strcspn(p + klen + 1, "\n"), p + klen + 1);
			break;
		}
	}
	ktap_check(!ret && !strcmp(line, want), "pf_config %s: \"%s\" == \"%s\"%s%s",
		   key, line, want, ret ? ": " : "", ret ? strerror(-ret) : "");
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
	ivf_format_mac(v.mac, m);
	expect_log(bdf, "cts", "1");
	expect_log(bdf, "mac", m);
	expect_log(bdf, "mc", "0");

	/* SET_MAC: admin MAC set, VF untrusted -> NACK, for any address */
	msg[0] = IVF_MSG_SET_MAC_ADDR;
	msg[1] = other[0] | other[1] << 8 | other[2] << 16 |
		 (uint32_t)other[3] << 24;
	msg[2] = other[4] | other[5] << 8;
	check_xfer(&v, msg, 3, -EPERM, "SET_MAC_ADDR 02:11:22:33:44:55");
	ret = ivf_set_mac(&v, other);
	ktap_check(ret == -EPERM, "ivf_set_mac() reports the NACK (%s)",
		   ret ? strerror(-ret) : "ok");
	expect_log(bdf, "mac", m);	/* a NACK changes nothing */

	/* multicast hashes */
	memset(msg, 0, sizeof(msg));
	ret = ivf_set_multicast(&v, hashes, 3);
	ktap_check(!ret, "SET_MULTICAST with 3 hashes acked (%s)",
		   ret ? strerror(-ret) : "ok");
	expect_log(bdf, "mc", "3 0x123 0x456 0x789");
	ret = ivf_set_multicast(&v, hashes, 0);
	ktap_check(!ret, "SET_MULTICAST with 0 hashes acked (%s)",
		   ret ? strerror(-ret) : "ok");

	/* VLAN add/remove */
	ret = ivf_set_vlan(&v, 100, true);
	ktap_check(!ret, "SET_VLAN add 100 acked (%s)", ret ? strerror(-ret) : "ok");
	ret = ivf_set_vlan(&v, 7, true);
	ktap_check(!ret, "SET_VLAN add 7 acked (%s)", ret ? strerror(-ret) : "ok");
	expect_log(bdf, "mc", "0");
	expect_log(bdf, "vlans", "2 7 100");
	ret = ivf_set_vlan(&v, 100, false);
	ktap_check(!ret, "SET_VLAN remove 100 acked (%s)",
		   ret ? strerror(-ret) : "ok");
	expect_log(bdf, "vlans", "1 7");

	/* max frame */
	msg[0] = IVF_MSG_SET_LPE;
	msg[1] = 9018;
	check_xfer(&v, msg, 2, 0, "SET_LPE 9018");
	expect_log(bdf, "max_frame", "9018");
	ret = ivf_set_lpe(&v, 1522);
	ktap_check(!ret, "SET_LPE 1522 acked (%s)", ret ? strerror(-ret) : "ok");
	expect_log(bdf, "max_frame", "1522");

	/* unknown message */
	msg[0] = 0x0077;
	check_xfer(&v, msg, 1, -EPERM, "unknown message 0x77");
	expect_log(bdf, "pending", "none");

	/* The guest's own VF reset and an FLR both make the PF forget. */
	ret = vfio_bar_write32(&d, 0, IVF_CTRL, IVF_CTRL_RST);
	ktap_check(!ret, "CTRL.RST written");
	expect_log(bdf, "cts", "0");
	expect_log(bdf, "vlans", "0");
	ret = ivf_reset(&v);
	ret = ret ? ret : ivf_set_vlan(&v, 5, true);
	ktap_check(!ret, "reset handshake and VLAN 5 again (%s)",
		   ret ? strerror(-ret) : "ok");
	expect_log(bdf, "vlans", "1 5");
	ret = vfio_dev_reset(&d);
	ktap_check(!ret, "VFIO_DEVICE_RESET (%s)", ret ? strerror(-ret) : "ok");
	expect_log(bdf, "cts", "0");
	expect_log(bdf, "mac", "none");
	expect_log(bdf, "vlans", "0");

	ktap_check(v.io_errors == 0, "no register access errors (%lu)",
		   v.io_errors);
	ivf_close(&v);
out:
	vfio_dev_close(&d);
	ktap_finish();
}
