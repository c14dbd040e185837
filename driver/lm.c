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
 * ENODEV) when the device leaves its states, is reset or closed.
 *
 * Locking: state_mutex serialises the FSM and is never held across user
 * copies; each fd has its own lock for its buffer. Order: state_mutex,
 * file lock, memory_lock (read), mailbox lock. A reset arrives from the
 * core with memory_lock held for write, so it can't wait for state_mutex:
 * it is recorded and carried out by whoever holds or next takes the mutex.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "ivf.h"

struct ivf_mig_file {
	struct file *filp;
	struct ivf_device *ivf;
	struct mutex lock;		/* everything below but disabled */
	bool disabled;			/* set without the lock (a reset) */
	/* saving: bytes not read yet are buf[pos..len) */
	bool final;			/* the final packet is in buf */
	size_t pos, len, initial_end;
	u32 cfg_gen;			/* config generation last sent */
	u8 buf[2 * IVF_MIG_MAX_PACKET];
	/* resuming: the packet being received */
	u32 have, pkt_len;
	int error;			/* sticky: the stream was refused */
	bool got_final;
	bool got_config;
	u8 pkt[IVF_MIG_MAX_PACKET];
	struct ivf_vf_state st;		/* what the packets said */
	struct ivf_vf_state scratch;
};

static bool ivf_lm_precopy(enum vfio_device_mig_state s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* Drop read bytes; caller holds migf->lock. */
static void ivf_mig_compact(struct ivf_mig_file *migf)
{
	memmove(migf->buf, migf->buf + migf->pos, migf->len - migf->pos);
	migf->len -= migf->pos;
	migf->initial_end -= min(migf->initial_end, migf->pos);
	migf->pos = 0;
}

/*
 * PRE_COPY: once everything was read, a guest that changed its PF
 * configuration since gets a new config packet. Caller holds migf->lock.
 */
static void ivf_mig_refresh(struct ivf_mig_file *migf)
{
	struct ivf_pf_config *cfg = &migf->scratch.cfg;
	u32 gen;

	if (migf->final || migf->pos != migf->len)
		return;
	gen = ivf_mbx_config(migf->ivf, cfg);
	if (gen == migf->cfg_gen)
		return;
	ivf_mig_compact(migf);
	migf->len += ivf_stream_put_config(cfg, migf->buf + migf->len);
	migf->cfg_gen = gen;
}

static ssize_t ivf_mig_read(struct file *filp, char __user *ubuf, size_t len,
			    loff_t *pos)
{
	struct ivf_mig_file *migf = filp->private_data;
	ssize_t ret;
	size_t n;

	if (pos)
		return -ESPIPE;
	mutex_lock(&migf->lock);
	if (READ_ONCE(migf->disabled)) {
		ret = -ENODEV;
		goto out;
	}
	ivf_mig_refresh(migf);
	if (migf->pos == migf->len) {
		/* End of stream after the final packet; "later" before it. */
		ret = migf->final ? 0 : -ENOMSG;
		goto out;
	}
	n = min(len, migf->len - migf->pos);
	if (copy_to_user(ubuf, migf->buf + migf->pos, n)) {
		ret = -EFAULT;
		goto out;
	}
	migf->pos += n;
	ret = n;
out:
	mutex_unlock(&migf->lock);
	return ret;
}

/* Take a complete packet; caller holds migf->lock. */
static int ivf_mig_take_packet(struct ivf_mig_file *migf)
{
	struct pci_dev *pdev = migf->ivf->core.pdev;
	bool final;
	int ret;

	ret = ivf_stream_parse(pdev, migf->pkt, migf->pkt_len, &migf->scratch,
			       &final);
	if (ret)
		return ret;
	if (final) {
		migf->st = migf->scratch;
		migf->got_final = true;
	} else {
		ret = ivf_vf_precheck(migf->ivf, &migf->scratch.cfg);
		if (ret)
			return ret;
		migf->st.cfg = migf->scratch.cfg;
		migf->got_config = true;
	}
	migf->have = 0;
	migf->pkt_len = 0;
	return 0;
}

static ssize_t ivf_mig_write(struct file *filp, const char __user *ubuf,
			     size_t len, loff_t *pos)
{
	struct ivf_mig_file *migf = filp->private_data;
	struct pci_dev *pdev = migf->ivf->core.pdev;
	const size_t hlen = sizeof(struct ivf_mig_hdr);
	size_t done = 0, accepted = 0, n;
	int ret = 0;

	if (pos)
		return -ESPIPE;
	mutex_lock(&migf->lock);
	if (READ_ONCE(migf->disabled)) {
		ret = -ENODEV;
		goto out;
	}
	ret = migf->error;
	while (!ret && done < len) {
		if (migf->got_final) {
			pci_err(pdev, "migration stream refused: %zu bytes after the end of the stream\n",
				len - done);
			ret = -EINVAL;
			break;
		}
		n = (migf->have < hlen ? hlen : migf->pkt_len) - migf->have;
		n = min(n, len - done);
		if (copy_from_user(migf->pkt + migf->have, ubuf + done, n)) {
			ret = -EFAULT;
			break;
		}
		migf->have += n;
		done += n;
		if (migf->have == hlen && !migf->pkt_len)
			ret = ivf_stream_check_header(pdev, migf->pkt,
						      &migf->pkt_len);
		if (!ret && migf->pkt_len && migf->have == migf->pkt_len) {
			ret = ivf_mig_take_packet(migf);
			if (!ret)
				accepted = done;
		}
	}
	if (ret && ret != -EFAULT)
		migf->error = ret;
out:
	mutex_unlock(&migf->lock);
	/*
	 * Packets taken before a refused one count as written; the refusal
	 * is sticky and the next write reports it.
	 */
	if (ret && accepted)
		return accepted;
	return ret ? ret : done;
}

static long ivf_mig_ioctl(struct file *filp, unsigned int cmd,
			  unsigned long arg)
{
	struct ivf_mig_file *migf = filp->private_data;
	struct ivf_device *ivf = migf->ivf;
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info;
	size_t initial;
	int ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	mutex_lock(&ivf->lm.state_mutex);
	mutex_lock(&migf->lock);
	if (READ_ONCE(migf->disabled))
		ret = -ENODEV;
	else if (!ivf_lm_precopy(ivf->lm.state) || migf->final)
		ret = -EINVAL;
	if (!ret) {
		ivf_mig_refresh(migf);
		initial = migf->initial_end > migf->pos ?
			  migf->initial_end - migf->pos : 0;
		info.initial_bytes = initial;
		info.dirty_bytes = migf->len - migf->pos - initial;
	}
	mutex_unlock(&migf->lock);
	ivf_lm_unlock(ivf);
	if (ret)
		return ret;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static int ivf_mig_release(struct inode *inode, struct file *filp)
{
	struct ivf_mig_file *migf = filp->private_data;
	struct ivf_device *ivf = migf->ivf;

	mutex_destroy(&migf->lock);
	kvfree(migf);
	vfio_put_device(&ivf->core.vdev);
	return 0;
}

static const struct file_operations ivf_mig_fops = {
	.owner		= THIS_MODULE,
	.read		= ivf_mig_read,
	.write		= ivf_mig_write,
	.unlocked_ioctl	= ivf_mig_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= ivf_mig_release,
};

static struct ivf_mig_file *ivf_mig_file_new(struct ivf_device *ivf,
					     bool saving)
{
	struct ivf_mig_file *migf;

	migf = kvzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	mutex_init(&migf->lock);
	migf->ivf = ivf;
	/*
	 * The fd may outlive the binding (unbind waits for the device fd,
	 * not for this one): keep the device's memory until it is closed.
	 */
	get_device(&ivf->core.vdev.device);
	migf->filp = anon_inode_getfile("igbvf_vfio_mig", &ivf_mig_fops, migf,
					saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(migf->filp)) {
		struct file *err = migf->filp;

		vfio_put_device(&ivf->core.vdev);
		mutex_destroy(&migf->lock);
		kvfree(migf);
		return ERR_CAST(err);
	}
	stream_open(migf->filp->f_inode, migf->filp);
	/* Our reference; the one anon_inode_getfile() gave goes to the user. */
	get_file(migf->filp);
	return migf;
}

static void ivf_mig_file_end(struct ivf_mig_file **pmigf)
{
	struct ivf_mig_file *migf = *pmigf;

	if (!migf)
		return;
	/*
	 * Without migf->lock: a reset ends migrations with memory_lock held
	 * for write, and the fd's lock is held across device accesses
	 * (save, restore, the early check), which take memory_lock. An fd
	 * call under way finishes on the old state; the next one sees
	 * ENODEV. The buffers go with the file.
	 */
	WRITE_ONCE(migf->disabled, true);
	fput(migf->filp);
	*pmigf = NULL;
}

/* The device was reset or closed: no migration survives it. */
static void ivf_lm_reset_locked(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;

	ivf_mig_file_end(&lm->saving);
	ivf_mig_file_end(&lm->resuming);
	lm->state = VFIO_DEVICE_STATE_RUNNING;
	lm->quiesced = false;
	ivf_dirty_unpause(ivf);
}

/* Release state_mutex, carrying out any reset recorded meanwhile. */
void ivf_lm_unlock(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;

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

void ivf_lm_reset_done(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;

	spin_lock(&lm->reset_lock);
	lm->deferred_reset = true;
	spin_unlock(&lm->reset_lock);
	if (mutex_trylock(&lm->state_mutex))
		ivf_lm_unlock(ivf);
}

/* Save the quiesced device and append the final packet. */
static int ivf_lm_save_final(struct ivf_device *ivf, struct ivf_mig_file *migf)
{
	int ret;

	mutex_lock(&migf->lock);
	ret = ivf_vf_save(ivf, &migf->scratch);
	if (!ret) {
		ivf_mig_compact(migf);
		migf->len += ivf_stream_put_final(&migf->scratch,
						  migf->buf + migf->len);
		migf->final = true;
	}
	mutex_unlock(&migf->lock);
	return ret;
}

static struct file *ivf_lm_open_saving(struct ivf_device *ivf, bool final)
{
	struct ivf_mig_file *migf;
	int ret = 0;

	migf = ivf_mig_file_new(ivf, true);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	if (final) {
		ret = ivf_lm_save_final(ivf, migf);
	} else {
		/* PRE_COPY: the configuration first, for an early check. */
		migf->cfg_gen = ivf_mbx_config(ivf, &migf->scratch.cfg);
		migf->len = ivf_stream_put_config(&migf->scratch.cfg, migf->buf);
		migf->initial_end = migf->len;
	}
	if (ret) {
		fput(migf->filp);	/* ours */
		fput(migf->filp);	/* the one meant for the user */
		return ERR_PTR(ret);
	}
	ivf->lm.saving = migf;
	return migf->filp;
}

static int ivf_lm_apply(struct ivf_device *ivf)
{
	struct ivf_mig_file *migf = ivf->lm.resuming;
	struct pci_dev *pdev = ivf->core.pdev;
	int ret;

	mutex_lock(&migf->lock);
	if (migf->error) {
		pci_err(pdev, "migration: RESUMING -> STOP refused: the stream was refused (%d)\n",
			migf->error);
		ret = -ENODATA;
	} else if (!migf->got_final) {
		pci_err(pdev, "migration: RESUMING -> STOP without a complete device state (%u bytes of a packet received)\n",
			migf->have);
		ret = -ENODATA;
	} else {
		ret = ivf_vf_restore(ivf, &migf->st);
	}
	mutex_unlock(&migf->lock);
	return ret;
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
		return ivf_lm_open_saving(ivf, false);
	}
	if ((cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     next == VFIO_DEVICE_STATE_RUNNING) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     next == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_STOP_COPY &&
	     next == VFIO_DEVICE_STATE_STOP)) {
		ivf_mig_file_end(&lm->saving);
		return NULL;
	}
	if (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	    next == VFIO_DEVICE_STATE_STOP_COPY) {
		ret = ivf_lm_save_final(ivf, lm->saving);
		return ret ? ERR_PTR(ret) : NULL;
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_STOP_COPY)
		return ivf_lm_open_saving(ivf, true);
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_RESUMING) {
		struct ivf_mig_file *migf = ivf_mig_file_new(ivf, false);

		if (IS_ERR(migf))
			return ERR_CAST(migf);
		lm->resuming = migf;
		return migf->filp;
	}
	if (cur == VFIO_DEVICE_STATE_RESUMING &&
	    next == VFIO_DEVICE_STATE_STOP) {
		ret = ivf_lm_apply(ivf);
		if (ret)
			return ERR_PTR(ret);
		ivf_dirty_reload(ivf);
		ivf_mig_file_end(&lm->resuming);
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
	static const char * const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};
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
