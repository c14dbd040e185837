// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: the migration data fds, one per saving or resuming
 * session (the state machine in lm.c opens and ends them).
 *
 * Saving: the stream is built in the file's buffer (stream.c) and read()
 * hands it out; in PRE_COPY a guest that changes its PF configuration gets
 * a new CONFIG packet once everything before it was read. Resuming: write()
 * gathers whole packets, checks each (a CONFIG packet is tried against this
 * VF's PF at once, vf.c) and keeps the state of the final one for
 * RESUMING -> STOP.
 *
 * Locking: each fd's lock covers its buffer and counters; state_mutex
 * (lm.c) is taken before it. An fd's session ends under state_mutex
 * (ivf_mig_file_end(): close, reset, leaving its states). read() and
 * write() take state_mutex and the file lock, and check that the session
 * is alive (not ended, no reset pending) before each step; write() before
 * each packet, as a CONFIG packet resets the VF and talks to the PF. So an
 * fd whose session ended never touches the device again, whoever uses it
 * next. No lock is held across a user copy (a userfaultfd page can stall
 * one for ever): write() copies into a bounce buffer first, read() copies
 * out of one after. Each call handles at most IVF_MIG_IO_MAX bytes (more
 * than one read of the saving side gives, so a VMM that passes on what it
 * read never sees a short write) and stops at a fatal signal.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "ivf.h"

/* Bytes one read() or write() handles at most: the saving buffer's size. */
#define IVF_MIG_IO_MAX		(2 * IVF_MIG_MAX_PACKET)

struct ivf_mig_file {
	struct file *filp;
	struct ivf_device *ivf;
	struct mutex lock;		/* everything below but disabled */
	bool disabled;			/* the session ended; state_mutex */
	/* saving: bytes not read yet are buf[pos..len) */
	bool final;			/* the final packet is in buf */
	bool lost;			/* a failed copy out lost bytes */
	size_t pos, len, initial_end;
	u64 gen;			/* changes of pos or of buf's layout */
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

static bool ivf_mig_precopy(enum vfio_device_mig_state s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* Drop read bytes. */
static void ivf_mig_compact(struct ivf_mig_file *migf)
{
	lockdep_assert_held(&migf->lock);
	memmove(migf->buf, migf->buf + migf->pos, migf->len - migf->pos);
	migf->gen++;
	migf->len -= migf->pos;
	migf->initial_end -= min(migf->initial_end, migf->pos);
	migf->pos = 0;
}

/*
 * PRE_COPY: once everything was read, a guest that changed its PF
 * configuration since gets a new config packet.
 */
static void ivf_mig_refresh(struct ivf_mig_file *migf)
{
	struct ivf_pf_config *cfg = &migf->scratch.cfg;
	u32 gen;

	lockdep_assert_held(&migf->lock);
	if (migf->final || migf->pos != migf->len)
		return;
	gen = ivf_mbx_config(migf->ivf, cfg);
	if (gen == migf->cfg_gen)
		return;
	ivf_mig_compact(migf);
	migf->len += ivf_stream_put_config(cfg, migf->buf + migf->len);
	migf->cfg_gen = gen;
}

/*
 * The fd's session is alive: it did not end, and no reset waits to end it.
 * Caller holds state_mutex, which orders this with close and the FSM; a
 * reset that arrives later is seen by the next check.
 */
static bool ivf_mig_live(struct ivf_mig_file *migf)
{
	struct ivf_lm *lm = &migf->ivf->lm;
	bool reset;

	lockdep_assert_held(&lm->state_mutex);
	if (READ_ONCE(migf->disabled))
		return false;
	spin_lock(&lm->reset_lock);
	reset = lm->deferred_reset;
	spin_unlock(&lm->reset_lock);
	return !reset;
}

/*
 * Take up to @len bytes of the stream into @kbuf: their count, 0 at the end
 * of the stream or -errno. *@gen identifies the state after the take.
 */
static ssize_t ivf_mig_take_out(struct ivf_mig_file *migf, u8 *kbuf,
				size_t len, u64 *gen)
{
	struct ivf_device *ivf = migf->ivf;
	ssize_t ret;
	size_t n;

	if (mutex_lock_killable(&ivf->lm.state_mutex))
		return -EINTR;
	mutex_lock(&migf->lock);
	if (!ivf_mig_live(migf)) {
		ret = -ENODEV;
		goto out;
	}
	if (migf->lost) {
		ret = -EIO;
		goto out;
	}
	ivf_mig_refresh(migf);
	if (migf->pos == migf->len) {
		/* End of stream after the final packet; "later" before it. */
		ret = migf->final ? 0 : -ENOMSG;
		goto out;
	}
	n = min(len, migf->len - migf->pos);
	memcpy(kbuf, migf->buf + migf->pos, n);
	migf->pos += n;
	*gen = ++migf->gen;
	ret = n;
out:
	mutex_unlock(&migf->lock);
	ivf_lm_unlock(ivf);
	return ret;
}

/*
 * @left of the bytes taken did not reach the user: give them back if
 * nothing moved since, else the stream has a hole and the fd says so
 * (EIO from now on).
 */
static void ivf_mig_give_back(struct ivf_mig_file *migf, size_t left,
			      u64 gen)
{
	mutex_lock(&migf->lock);
	if (migf->gen == gen && migf->pos >= left) {
		migf->pos -= left;
		migf->gen++;
	} else if (!migf->lost) {
		migf->lost = true;
		dev_warn_ratelimited(&migf->ivf->core.pdev->dev,
				     "migration: %zu bytes of the stream lost in a failed copy to user space; the saving fd fails from now on\n",
				     left);
	}
	mutex_unlock(&migf->lock);
}

/* The bounce buffer of one read() or write(), which handles *@len bytes. */
static u8 *ivf_mig_bounce(size_t *len)
{
	*len = min_t(size_t, *len, IVF_MIG_IO_MAX);
	return kvmalloc(max_t(size_t, *len, 1), GFP_KERNEL_ACCOUNT);
}

static ssize_t ivf_mig_read(struct file *filp, char __user *ubuf, size_t len,
			    loff_t *pos)
{
	struct ivf_mig_file *migf = filp->private_data;
	size_t left;
	ssize_t ret;
	u8 *kbuf;
	u64 gen;

	if (pos)
		return -ESPIPE;
	kbuf = ivf_mig_bounce(&len);
	if (!kbuf)
		return -ENOMEM;
	ret = ivf_mig_take_out(migf, kbuf, len, &gen);
	if (ret > 0) {
		/* No lock held: a stalled copy blocks neither the FSM nor close. */
		left = copy_to_user(ubuf, kbuf, ret);
		if (left) {
			ivf_mig_give_back(migf, left, gen);
			ret = ret - left ? ret - left : -EFAULT;
		}
	}
	kvfree(kbuf);
	return ret;
}

/* Take a complete packet. */
static int ivf_mig_take_packet(struct ivf_mig_file *migf)
{
	struct pci_dev *pdev = migf->ivf->core.pdev;
	bool final;
	int ret;

	lockdep_assert_held(&migf->lock);
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

/*
 * Copy @len bytes of user data with no lock held, a page at a time,
 * stopping at a fatal signal. *@copied bytes arrived; 0, -EFAULT or -EINTR.
 */
static int ivf_mig_copy_in(u8 *kbuf, const char __user *ubuf, size_t len,
			   size_t *copied)
{
	size_t n, left;

	*copied = 0;
	while (*copied < len) {
		if (fatal_signal_pending(current))
			return -EINTR;
		n = min_t(size_t, len - *copied, PAGE_SIZE);
		left = copy_from_user(kbuf + *copied, ubuf + *copied, n);
		*copied += n - left;
		if (left)
			return -EFAULT;
	}
	return 0;
}

/*
 * Feed @len bytes to the stream; *@done bytes were consumed, the packets
 * taken end at *@accepted.
 */
static int ivf_mig_feed(struct ivf_mig_file *migf, const u8 *kbuf,
			size_t len, size_t *done, size_t *accepted)
{
	struct pci_dev *pdev = migf->ivf->core.pdev;
	const size_t hlen = sizeof(struct ivf_mig_hdr);
	size_t n;
	int ret;

	lockdep_assert_held(&migf->ivf->lm.state_mutex);
	lockdep_assert_held(&migf->lock);
	if (!ivf_mig_live(migf))
		return -ENODEV;
	ret = migf->error;
	while (!ret && *done < len) {
		/* Before each packet: a CONFIG packet resets the VF. */
		if (!ivf_mig_live(migf))
			return -ENODEV;
		if (fatal_signal_pending(current))
			return -EINTR;
		if (migf->got_final) {
			ivf_err_rl(pdev,
				   "migration stream refused: %zu bytes after the end of the stream\n",
				   len - *done);
			ret = -EINVAL;
			break;
		}
		n = (migf->have < hlen ? hlen : migf->pkt_len) - migf->have;
		n = min(n, len - *done);
		memcpy(migf->pkt + migf->have, kbuf + *done, n);
		migf->have += n;
		*done += n;
		if (migf->have == hlen && !migf->pkt_len)
			ret = ivf_stream_check_header(pdev, migf->pkt,
						      &migf->pkt_len);
		if (!ret && migf->pkt_len && migf->have == migf->pkt_len) {
			ret = ivf_mig_take_packet(migf);
			if (!ret)
				*accepted = *done;
		}
	}
	if (ret)
		migf->error = ret;	/* sticky: the stream was refused */
	return ret;
}

static ssize_t ivf_mig_write(struct file *filp, const char __user *ubuf,
			     size_t len, loff_t *pos)
{
	struct ivf_mig_file *migf = filp->private_data;
	struct ivf_device *ivf = migf->ivf;
	size_t copied, done = 0, accepted = 0;
	int ret, fault;
	u8 *kbuf;

	if (pos)
		return -ESPIPE;
	if (READ_ONCE(migf->disabled))
		return -ENODEV;
	kbuf = ivf_mig_bounce(&len);
	if (!kbuf)
		return -ENOMEM;
	/* The user's data first, with no lock held: the copy may stall. */
	fault = ivf_mig_copy_in(kbuf, ubuf, len, &copied);
	if (fault && !copied) {
		ret = fault;
		goto out;
	}
	if (mutex_lock_killable(&ivf->lm.state_mutex)) {
		ret = -EINTR;
		goto out;
	}
	mutex_lock(&migf->lock);
	ret = ivf_mig_feed(migf, kbuf, copied, &done, &accepted);
	mutex_unlock(&migf->lock);
	ivf_lm_unlock(ivf);
	if (ret == -ENODEV || ret == -EINTR) {
		/* Not the stream's fault: what was consumed counts. */
		ret = done ? done : ret;
	} else if (ret) {
		/*
		 * Packets taken before a refused one count as written; the
		 * refusal is sticky and the next write reports it.
		 */
		ret = accepted ? accepted : ret;
	} else {
		/* A fault after some bytes: a short write, the next fails. */
		ret = done;
	}
out:
	kvfree(kbuf);
	return ret;
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
	ivf_precopy_info_flags(&ivf->core.vdev, &info);

	mutex_lock(&ivf->lm.state_mutex);
	mutex_lock(&migf->lock);
	if (READ_ONCE(migf->disabled))
		ret = -ENODEV;
	else if (!ivf_mig_precopy(ivf->lm.state) || migf->final)
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

/* End a session: its fd returns ENODEV from now on. */
void ivf_mig_file_end(struct ivf_device *ivf, struct ivf_mig_file **pmigf)
{
	struct ivf_mig_file *migf = *pmigf;

	lockdep_assert_held(&ivf->lm.state_mutex);
	if (!migf)
		return;
	/*
	 * Under state_mutex, without migf->lock: a reset ends
	 * migrations with memory_lock held for write, and the fd's lock is
	 * held across device accesses (save, restore, the early check),
	 * which take memory_lock. read() and write() hold state_mutex too
	 * and check disabled before each step, so the step under way is the
	 * last one; the next sees ENODEV. The buffers go with the file.
	 */
	WRITE_ONCE(migf->disabled, true);
	fput(migf->filp);
	*pmigf = NULL;
}

/* Save the quiesced device and append the final packet. */
int ivf_mig_save_final(struct ivf_device *ivf, struct ivf_mig_file *migf)
{
	int ret;

	lockdep_assert_held(&ivf->lm.state_mutex);
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

/*
 * A saving session: with the final packet (STOP -> STOP_COPY) or, for
 * PRE_COPY, the configuration, which the final packet follows later.
 */
struct file *ivf_mig_open_saving(struct ivf_device *ivf, bool final)
{
	struct ivf_mig_file *migf;
	int ret = 0;

	lockdep_assert_held(&ivf->lm.state_mutex);
	migf = ivf_mig_file_new(ivf, true);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	if (final) {
		ret = ivf_mig_save_final(ivf, migf);
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

/* A resuming session (STOP -> RESUMING). */
struct file *ivf_mig_open_resuming(struct ivf_device *ivf)
{
	struct ivf_mig_file *migf;

	lockdep_assert_held(&ivf->lm.state_mutex);
	migf = ivf_mig_file_new(ivf, false);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	ivf->lm.resuming = migf;
	return migf->filp;
}

/* RESUMING -> STOP: load the state the resuming session received. */
int ivf_mig_apply(struct ivf_device *ivf)
{
	struct ivf_mig_file *migf = ivf->lm.resuming;
	struct pci_dev *pdev = ivf->core.pdev;
	int ret;

	lockdep_assert_held(&ivf->lm.state_mutex);
	mutex_lock(&migf->lock);
	if (migf->error) {
		ivf_err_rl(pdev,
			   "migration: RESUMING -> STOP refused: the stream was refused (%pe)\n",
			   ERR_PTR(migf->error));
		ret = -ENODATA;
	} else if (!migf->got_final) {
		ivf_err_rl(pdev,
			   "migration: RESUMING -> STOP without a complete device state (%u bytes of a packet received)\n",
			   migf->have);
		ret = -ENODATA;
	} else {
		ret = ivf_vf_restore(ivf, &migf->st);
	}
	mutex_unlock(&migf->lock);
	return ret;
}

