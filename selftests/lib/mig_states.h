/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Short names of the VFIO migration device states, for the tests that
 * drive the state machine by hand.
 */
#ifndef IVF_MIG_STATES_H
#define IVF_MIG_STATES_H

#include <linux/vfio.h>

#define S_STOP		VFIO_DEVICE_STATE_STOP
#define S_RUNNING	VFIO_DEVICE_STATE_RUNNING
#define S_STOP_COPY	VFIO_DEVICE_STATE_STOP_COPY
#define S_RESUMING	VFIO_DEVICE_STATE_RESUMING
#define S_P2P		VFIO_DEVICE_STATE_RUNNING_P2P
#define S_PRE_COPY	VFIO_DEVICE_STATE_PRE_COPY
#define S_PRE_COPY_P2P	VFIO_DEVICE_STATE_PRE_COPY_P2P

#endif /* IVF_MIG_STATES_H */
