// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: the VFIO migration v2 state machine.
 *
 * States and what the device does in them:
 *   RUNNING, PRE_COPY		running
 *   RUNNING_P2P, PRE_COPY_P2P,
 *   STOP, STOP_COPY		quiesced (vf.c): no DMA, interrupts masked
 *   RESUMING			loading a stream (device untouched until
 *				RESUMING -> STOP applies it)
 * The vfio core splits every request into the arcs below
 * (vfio_mig_get_next_state()); each arc is one step here.
 *
 * Data fds: RUNNING -> PRE_COPY and STOP -> STOP_COPY open a saving fd;
 * PRE_COPY_P2P -> STOP_COPY appends the final packet to the open one.
 * STOP -> RESUMING opens a resuming fd. An fd ends (read/write/ioctl return
 * ENODEV) when the device leaves its states, is reset or closed; the fds
 * themselves are mig_file.c's.
 *
 * Locking: state_mutex serialises the FSM; each fd has its own lock for its
 * buffer. Order: state_mutex, file lock, memory_lock (read), mailbox lock.
 * A reset arrives from the core with memory_lock held for write, so it
 * can't wait for state_mutex: it is recorded (deferred_reset) and carried
 * out by whoever holds or next takes the mutex (ivf_lm_unlock()).
 */
#include <linux/file.h>
#include <linux/vfio.h>

#include "ivf.h"

/* The device was reset or closed: no migration survives it. */
static void ivf_lm_reset_locked(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;

	lockdep_assert_held(&lm->state_mutex);
	ivf_mig_file_end(ivf, &lm->saving);
	ivf_mig_file_end(ivf, &lm->resuming);
	lm->state = VFIO_DEVICE_STATE_RUNNING;
	lm->quiesced = false;
	ivf_dirty_unpause(ivf);
}

/* Release state_mutex, carrying out any reset recorded meanwhile. */
void ivf_lm_unlock(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;

	lockdep_assert_held(&lm->state_mutex);
	for (;;) {
		spin_lock(&lm->reset_lock);
		if (!lm->deferred_reset)
			break;
		lm->deferred_reset = false;
		spin_unlock(&lm->reset_lock);
		ivf_lm_reset_locked(ivf);
	}
	mutex_unlock(&lm->state_mutex);
	spin_unlock(&lm->reset_lock);
}

/*
 * A reset happened and its migration part waits for state_mutex. Called by
 * device accesses on behalf of a stream, with memory_lock held for read: a
 * reset either waits for them or is seen here.
 */
bool ivf_lm_reset_pending(struct ivf_device *ivf)
{
	bool ret;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	spin_lock(&ivf->lm.reset_lock);
	ret = ivf->lm.deferred_reset;
	spin_unlock(&ivf->lm.reset_lock);
	return ret;
}

void ivf_lm_reset_done(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;

	spin_lock(&lm->reset_lock);
	lm->deferred_reset = true;
	spin_unlock(&lm->reset_lock);
	if (mutex_trylock(&lm->state_mutex))
		ivf_lm_unlock(ivf);
}

/* A device access that failed half-way leaves the device in ERROR. */
static struct file *ivf_lm_hw(struct ivf_lm *lm, int ret)
{
	if (!ret)
		return NULL;
	lm->state = VFIO_DEVICE_STATE_ERROR;
	return ERR_PTR(ret);
}

/* One arc of the FSM; the core only asks for arcs it allows. */
static struct file *ivf_lm_step(struct ivf_device *ivf,
				enum vfio_device_mig_state next)
{
	struct ivf_lm *lm = &ivf->lm;
	enum vfio_device_mig_state cur = lm->state;
	int ret;

	lockdep_assert_held(&lm->state_mutex);
	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     next == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     next == VFIO_DEVICE_STATE_PRE_COPY_P2P)) {
		return ivf_lm_hw(lm, ivf_vf_quiesce(ivf));
	}
	if ((cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     next == VFIO_DEVICE_STATE_RUNNING) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     next == VFIO_DEVICE_STATE_PRE_COPY)) {
		return ivf_lm_hw(lm, ivf_vf_unquiesce(ivf));
	}
	if ((cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     next == VFIO_DEVICE_STATE_STOP) ||
	    (cur == VFIO_DEVICE_STATE_STOP &&
	     next == VFIO_DEVICE_STATE_RUNNING_P2P))
		return NULL;
	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     next == VFIO_DEVICE_STATE_PRE_COPY) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     next == VFIO_DEVICE_STATE_PRE_COPY_P2P)) {
		/*
		 * A VMM migrating memory while the device runs: track the
		 * device's writes from now on (a failure leaves the VMM
		 * seeing all memory dirty, which is still correct).
		 */
		ivf_dirty_engage(ivf);
		return ivf_mig_open_saving(ivf, false);
	}
	if ((cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     next == VFIO_DEVICE_STATE_RUNNING) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     next == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_STOP_COPY &&
	     next == VFIO_DEVICE_STATE_STOP)) {
		ivf_mig_file_end(ivf, &lm->saving);
		return NULL;
	}
	if (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	    next == VFIO_DEVICE_STATE_STOP_COPY) {
		ret = ivf_dirty_check_lost(ivf) ?:
		      ivf_mig_save_final(ivf, lm->saving);
		return ret ? ERR_PTR(ret) : NULL;
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_STOP_COPY) {
		ret = ivf_dirty_check_lost(ivf);
		return ret ? ERR_PTR(ret) : ivf_mig_open_saving(ivf, true);
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_RESUMING)
		return ivf_mig_open_resuming(ivf);
	if (cur == VFIO_DEVICE_STATE_RESUMING &&
	    next == VFIO_DEVICE_STATE_STOP) {
		ret = ivf_mig_apply(ivf);
		if (ret)
			return ERR_PTR(ret);
		ivf_dirty_reload(ivf);
		ivf_mig_file_end(ivf, &lm->resuming);
		return NULL;
	}
	WARN_ON_ONCE(1);
	return ERR_PTR(-EINVAL);
}

/*
 * Requests we refuse before asking vfio_mig_get_next_state(): from ERROR
 * (only a reset leaves it; the core WARNs if asked), and the arcs its table
 * marks invalid, STOP_COPY -> PRE_COPY[_P2P]. Kernels before the fix that
 * taught its skip loop to stop at ERROR (Debian's 6.12.95 among them) spin
 * there forever.
 */
static int ivf_lm_refused(struct ivf_device *ivf,
			  enum vfio_device_mig_state new)
{
	enum vfio_device_mig_state cur = ivf->lm.state;

	lockdep_assert_held(&ivf->lm.state_mutex);
	if (cur == VFIO_DEVICE_STATE_ERROR) {
		pci_info_ratelimited(ivf->core.pdev,
				     "migration: the device is in the ERROR state; VFIO_DEVICE_RESET it\n");
		return -EINVAL;
	}
	if (new == VFIO_DEVICE_STATE_ERROR ||
	    new > VFIO_DEVICE_STATE_PRE_COPY_P2P)
		return -EINVAL;
	if (cur == VFIO_DEVICE_STATE_STOP_COPY &&
	    (new == VFIO_DEVICE_STATE_PRE_COPY ||
	     new == VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return -EINVAL;
	return 0;
}

static struct file *ivf_set_state(struct vfio_device *vdev,
				  enum vfio_device_mig_state new)
{
	struct ivf_device *ivf = ivf_from_vdev(vdev);
	struct ivf_lm *lm = &ivf->lm;
	enum vfio_device_mig_state next;
	struct file *res = NULL;
	int ret;

	mutex_lock(&lm->state_mutex);
	ret = ivf_lm_refused(ivf, new);
	if (ret) {
		ivf_lm_unlock(ivf);
		return ERR_PTR(ret);
	}
	while (lm->state != new) {
		ret = vfio_mig_get_next_state(vdev, lm->state, new, &next);
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		res = ivf_lm_step(ivf, next);
		if (IS_ERR(res))
			break;
		lm->state = next;
		if (WARN_ON(res && next != new)) {
			fput(res);
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
	ivf_lm_unlock(ivf);
	return res;
}

static int ivf_get_state(struct vfio_device *vdev,
			 enum vfio_device_mig_state *state)
{
	struct ivf_device *ivf = ivf_from_vdev(vdev);

	mutex_lock(&ivf->lm.state_mutex);
	*state = ivf->lm.state;
	ivf_lm_unlock(ivf);
	return 0;
}

static int ivf_get_data_size(struct vfio_device *vdev,
			     unsigned long *stop_copy_length)
{
	*stop_copy_length = ivf_stream_final_size();
	return 0;
}

const struct vfio_migration_ops ivf_mig_ops = {
	.migration_set_state	= ivf_set_state,
	.migration_get_state	= ivf_get_state,
	.migration_get_data_size = ivf_get_data_size,
};

void ivf_lm_show(struct ivf_device *ivf, struct seq_file *m)
{
	static const char * const names[] = IVF_MIG_STATE_NAMES;
	struct ivf_lm *lm = &ivf->lm;

	mutex_lock(&lm->state_mutex);
	seq_printf(m, "state %s\nquiesced %d\nsaving %d\nresuming %d\n",
		   lm->state < ARRAY_SIZE(names) ? names[lm->state] : "?",
		   lm->quiesced, !!lm->saving, !!lm->resuming);
	ivf_lm_unlock(ivf);
}

void ivf_lm_init(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;

	mutex_init(&lm->state_mutex);
	spin_lock_init(&lm->reset_lock);
	lm->state = VFIO_DEVICE_STATE_RUNNING;
	ivf->core.vdev.migration_flags = VFIO_MIGRATION_STOP_COPY |
					 VFIO_MIGRATION_P2P |
					 VFIO_MIGRATION_PRE_COPY;
	ivf->core.vdev.mig_ops = &ivf_mig_ops;
}

void ivf_lm_destroy(struct ivf_device *ivf)
{
	mutex_destroy(&ivf->lm.state_mutex);
}

/* open and close: a new user starts RUNNING, nothing carries over. */
void ivf_lm_open(struct ivf_device *ivf)
{
	mutex_lock(&ivf->lm.state_mutex);
	ivf_lm_reset_locked(ivf);
	ivf_lm_unlock(ivf);
}

void ivf_lm_close(struct ivf_device *ivf)
{
	ivf_lm_open(ivf);
}
