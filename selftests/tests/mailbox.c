// SPDX-License-Identifier: GPL-2.0
/*
 * mailbox: the VF<->PF mailbox through the (trapped) BAR0 page 0, driven by
 * the userspace VF driver: VF_RESET returns the admin MAC, then the PF's
 * answers to SET_MAC (NACK: the admin set the MAC and the VF is not
 * trusted), SET_MULTICAST, SET_VLAN add/remove, SET_LPE (ACK) and an
 * unknown message (NACK).  Every reply must carry CTS after the reset.
 * What the PF acknowledged is read back from the driver's debugfs log
 * (pf_config).
 *
 * The fixture opens the VF, brings the userspace driver up and does the
 * reset handshake (VF_RESET acked with CTS and a MAC); its teardown checks
 * that no register access failed. Cases:
 *   reset_acked_with_admin_mac        two more resets, each acked with CTS
 *                                     and the MAC; the admin MAC
 *                                     (IVF_VF2_MAC) if set; pf_config: CTS,
 *                                     the MAC, no multicast
 *   set_mac_nacked_changes_nothing    SET_MAC_ADDR: NACK with CTS, also
 *                                     through ivf_set_mac(); the MAC stays
 *   multicast_hashes_acked_and_logged SET_MULTICAST with 3 hashes, then 0:
 *                                     ACKed, logged
 *   vlans_added_and_removed           SET_VLAN add 100, add 7, remove 100:
 *                                     ACKed, logged
 *   lpe_acked_and_logged              SET_LPE 9018 (ACK with CTS), 1522
 *   unknown_message_nacked            0x77: NACK with CTS, nothing pending
 *   guest_reset_makes_pf_forget       CTRL.RST: no CTS, no VLANs; the reset
 *                                     handshake and a VLAN work again
 *   device_reset_makes_pf_forget      VFIO_DEVICE_RESET: no CTS, no MAC, no
 *                                     VLANs
 *
 * Usage: mailbox [BDF] [harness options]  (default IVF_VF2; IVF_VF2_MAC
 *        checked if set and no BDF is given)
 */
#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "ivf.h"
#include "util.h"

#include "kselftest_harness.h"

/* a few mailbox round trips and resets: seconds even on a sanitizer kernel */
#define CASE_TIMEOUT	120

static const char *arg_bdf;

FIXTURE(mailbox) {
	const char *bdf;
	struct vfio_dev d;
	struct ivf v;
	bool dev_open, ivf_open;
	char mac[18];
};

FIXTURE_SETUP(mailbox)
{
	int ret;

	self->bdf = arg_bdf ? arg_bdf : env_get("IVF_VF2");
	if (!self->bdf)
		SKIP(return, "IVF_VF2 (or a BDF argument) is needed");
	ret = vfio_dev_open(&self->d, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", self->bdf, strerror(-ret));
	self->dev_open = true;
	ret = ivf_open(&self->v, &self->d, IVF_ACCESS_MMAP);
	ASSERT_EQ(0, ret)
		TH_LOG("userspace VF driver up: %s", strerror(-ret));
	self->ivf_open = true;
	ret = ivf_reset(&self->v);
	ivf_format_mac(self->v.mac, self->mac);
	ASSERT_TRUE(!ret && self->v.cts && self->v.mac_valid)
		TH_LOG("VF_RESET acked with CTS and MAC %s (%s)", self->mac,
		       ret ? strerror(-ret) : "ok");
}

FIXTURE_TEARDOWN(mailbox)
{
	if (self->ivf_open) {
		EXPECT_EQ(0, self->v.io_errors)
			TH_LOG("no register access errors");
		ivf_close(&self->v);
	}
	if (self->dev_open)
		vfio_dev_close(&self->d);
}

static void check_xfer(struct __test_metadata *_metadata, struct ivf *v,
		       const uint32_t *msg, unsigned int n, int want,
		       const char *what)
{
	uint32_t reply = 0;
	int ret = ivf_mbx_xfer(v, msg, n, &reply, 1);

	EXPECT_TRUE(ret == want && (reply & IVF_MSG_CTS) &&
		    (reply & IVF_MSG_TYPE_MASK) ==
		    (msg[0] & IVF_MSG_TYPE_MASK))
		TH_LOG("%s: %s with CTS (reply 0x%08x, %s)", what,
		       want ? "NACK" : "ACK", reply,
		       ret ? strerror(-ret) : "ok");
}

/*
 * The driver's log of what the PF acknowledged, from debugfs: check that
 * line KEY reads WANT.
 */
static void expect_log(struct __test_metadata *_metadata, const char *bdf,
		       const char *key, const char *want)
{
	char path[256], buf[1024], line[256] = "";
	const char *p;
	size_t klen = strlen(key);
	int ret;

	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/igbvf-vfio-pci/%s/pf_config", bdf);
	ret = read_str_file(path, buf, sizeof(buf));
	for (p = ret ? "" : buf; *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			snprintf(line, sizeof(line), "%.*s",
				 (int)strcspn(p + klen + 1, "\n"),
				 p + klen + 1);
			break;
		}
	}
	EXPECT_TRUE(!ret && !strcmp(line, want))
		TH_LOG("pf_config %s: \"%s\" == \"%s\"%s%s", key, line, want,
		       ret ? ": " : "", ret ? strerror(-ret) : "");
}

/* the PF acknowledged request @what: @ret, what the library call gave, is 0 */
static void expect_acked(struct __test_metadata *_metadata, int ret,
			 const char *what)
{
	EXPECT_EQ(0, ret)
		TH_LOG("%s acked (%s)", what, ret ? strerror(-ret) : "ok");
}

/* state for a reset to clear: a VLAN the PF acknowledged */
static void vlan_in_place(struct __test_metadata *_metadata,
			  FIXTURE_DATA(mailbox) *self, unsigned int vid)
{
	int ret = ivf_set_vlan(&self->v, vid, true);

	ASSERT_EQ(0, ret)
		TH_LOG("SET_VLAN add %u acked: %s", vid, strerror(-ret));
}

TEST_F_TIMEOUT(mailbox, reset_acked_with_admin_mac, CASE_TIMEOUT)
{
	const char *want_mac = arg_bdf ? NULL : env_get("IVF_VF2_MAC");
	uint8_t mac[6];
	char m[18];
	int ret, i;

	for (i = 0; i < 2; i++) {
		ret = ivf_reset(&self->v);
		ivf_format_mac(self->v.mac, m);
		EXPECT_TRUE(!ret && self->v.cts && self->v.mac_valid)
			TH_LOG("reset #%d: VF_RESET acked with MAC %s (%s)", i,
			       m, ret ? strerror(-ret) : "ok");
	}
	if (want_mac && !ivf_parse_mac(want_mac, mac))
		EXPECT_EQ(0, memcmp(mac, self->v.mac, 6))
			TH_LOG("MAC %s is the admin MAC %s", m, want_mac);
	expect_log(_metadata, self->bdf, "cts", "1");
	expect_log(_metadata, self->bdf, "mac", m);
	expect_log(_metadata, self->bdf, "mc", "0");
}

/* admin MAC set, VF untrusted: NACK, for any address */
TEST_F_TIMEOUT(mailbox, set_mac_nacked_changes_nothing, CASE_TIMEOUT)
{
	uint8_t other[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	uint32_t msg[IVF_VMBMEM_WORDS] = { 0 };
	int ret;

	msg[0] = IVF_MSG_SET_MAC_ADDR;
	msg[1] = other[0] | other[1] << 8 | other[2] << 16 |
		 (uint32_t)other[3] << 24;
	msg[2] = other[4] | other[5] << 8;
	check_xfer(_metadata, &self->v, msg, 3, -EPERM,
		   "SET_MAC_ADDR 02:11:22:33:44:55");
	ret = ivf_set_mac(&self->v, other);
	EXPECT_EQ(-EPERM, ret)
		TH_LOG("ivf_set_mac() reports the NACK (%s)",
		       ret ? strerror(-ret) : "ok");
	expect_log(_metadata, self->bdf, "mac", self->mac);
}

TEST_F_TIMEOUT(mailbox, multicast_hashes_acked_and_logged, CASE_TIMEOUT)
{
	static const uint16_t hashes[3] = { 0x0123, 0x0456, 0x0789 };

	expect_acked(_metadata, ivf_set_multicast(&self->v, hashes, 3),
		     "SET_MULTICAST with 3 hashes");
	expect_log(_metadata, self->bdf, "mc", "3 0x123 0x456 0x789");
	expect_acked(_metadata, ivf_set_multicast(&self->v, hashes, 0),
		     "SET_MULTICAST with 0 hashes");
	expect_log(_metadata, self->bdf, "mc", "0");
}

TEST_F_TIMEOUT(mailbox, vlans_added_and_removed, CASE_TIMEOUT)
{
	expect_acked(_metadata, ivf_set_vlan(&self->v, 100, true),
		     "SET_VLAN add 100");
	expect_acked(_metadata, ivf_set_vlan(&self->v, 7, true),
		     "SET_VLAN add 7");
	expect_log(_metadata, self->bdf, "vlans", "2 7 100");
	expect_acked(_metadata, ivf_set_vlan(&self->v, 100, false),
		     "SET_VLAN remove 100");
	expect_log(_metadata, self->bdf, "vlans", "1 7");
}

/* the max frame size */
TEST_F_TIMEOUT(mailbox, lpe_acked_and_logged, CASE_TIMEOUT)
{
	uint32_t msg[IVF_VMBMEM_WORDS] = { IVF_MSG_SET_LPE, 9018 };

	check_xfer(_metadata, &self->v, msg, 2, 0, "SET_LPE 9018");
	expect_log(_metadata, self->bdf, "max_frame", "9018");
	expect_acked(_metadata, ivf_set_lpe(&self->v, 1522), "SET_LPE 1522");
	expect_log(_metadata, self->bdf, "max_frame", "1522");
}

TEST_F_TIMEOUT(mailbox, unknown_message_nacked, CASE_TIMEOUT)
{
	uint32_t msg[IVF_VMBMEM_WORDS] = { 0x0077 };

	check_xfer(_metadata, &self->v, msg, 1, -EPERM,
		   "unknown message 0x77");
	expect_log(_metadata, self->bdf, "pending", "none");
}

/* the guest's own VF reset */
TEST_F_TIMEOUT(mailbox, guest_reset_makes_pf_forget, CASE_TIMEOUT)
{
	int ret;

	vlan_in_place(_metadata, self, 7);
	ret = vfio_bar_write32(&self->d, 0, IVF_CTRL, IVF_CTRL_RST);
	EXPECT_EQ(0, ret) TH_LOG("CTRL.RST written: %s", strerror(-ret));
	expect_log(_metadata, self->bdf, "cts", "0");
	expect_log(_metadata, self->bdf, "vlans", "0");
	ret = ivf_reset(&self->v);
	ret = ret ? ret : ivf_set_vlan(&self->v, 5, true);
	EXPECT_EQ(0, ret)
		TH_LOG("reset handshake and VLAN 5 again (%s)",
		       ret ? strerror(-ret) : "ok");
	expect_log(_metadata, self->bdf, "vlans", "1 5");
}

/* an FLR */
TEST_F_TIMEOUT(mailbox, device_reset_makes_pf_forget, CASE_TIMEOUT)
{
	int ret;

	vlan_in_place(_metadata, self, 5);
	ret = vfio_dev_reset(&self->d);
	EXPECT_EQ(0, ret)
		TH_LOG("VFIO_DEVICE_RESET (%s)", ret ? strerror(-ret) : "ok");
	expect_log(_metadata, self->bdf, "cts", "0");
	expect_log(_metadata, self->bdf, "mac", "none");
	expect_log(_metadata, self->bdf, "vlans", "0");
}

/* the BDF is the one argument besides the harness's options */
int main(int argc, char **argv)
{
	char **args;

	if (harness_own_args(argc, argv, &args) > 0)
		arg_bdf = args[0];
	return test_harness_run(argc, argv);
}
