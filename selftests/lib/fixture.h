/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Steps the harness tests' fixtures share: whether the VF a case needs is
 * there, opening it for a migration, whether it still works, and the
 * test's own arguments behind the harness's options. They return what
 * they found; the checks (ASSERT, EXPECT, SKIP) stay in the tests.
 */
#ifndef IVF_FIXTURE_H
#define IVF_FIXTURE_H

#include <stddef.h>

#include "ivf.h"
#include "vfio.h"

/*
 * Why a case cannot use VF @bdf, or NULL if it can: @bdf unset (@need
 * says what is needed, e.g. "IVF_VF2 is needed"), bound to another driver
 * than @drv (when @drv is set), or backend @b missing on this kernel (when
 * @b is set). A string for SKIP(), valid until the next call.
 */
const char *vf_unusable(const char *bdf, const char *need, const char *drv,
			const struct vfio_backend *b);

/*
 * A traffic case's VF and peer, from the environment: *bdf from IVF_VF0,
 * *ns and *ifname (the peer's namespace and interface) from IVF_PEER_NS
 * and IVF_PEER_IF. Why the case cannot use them (any unset, or as
 * vf_unusable() says with @drv and @b), or NULL.
 */
const char *vf_peer_unusable(const char **bdf, const char **ns,
			     const char **ifname, const char *drv,
			     const struct vfio_backend *b);

/* VF @vf's index among PF @pf's (its virtfnN link), or -1 */
int vf_index_on_pf(const char *pf, const char *vf);

/* PF netdev @pf_if gives its VF @vfn admin MAC @mac (iproute2); 0 or -EIO */
int vf_set_admin_mac(const char *pf_if, int vfn, const char *mac);

/*
 * Open VF @bdf through backend @b, in RUNNING (else -EPROTO), with the
 * userspace VF driver on top (mmap'ed BAR0); on failure nothing stays
 * open. 0 or -errno.
 */
int vf_open_running(struct vfio_dev *d, struct ivf *v, const char *bdf,
		    const struct vfio_backend *b);

/*
 * The VF works: the PF handshake (VF_RESET with CTS), and a whole stream
 * saved (RUNNING -> STOP_COPY, read to the end, parsed, -> RUNNING). 0 or
 * -errno; @why says what was done or what failed.
 */
int vf_works(struct vfio_dev *d, struct ivf *v, char *why, size_t len);

/*
 * The test's own arguments, given after (or before) the harness's
 * options: getopt() moves the options first; *args points at the rest.
 * How many there are. The harness parses argv afterwards as usual.
 */
int harness_own_args(int argc, char **argv, char ***args);

#endif /* IVF_FIXTURE_H */
