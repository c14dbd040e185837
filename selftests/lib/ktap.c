// SPDX-License-Identifier: GPL-2.0
/*
 * ktap.h's state for programs that do not define it: tests on the kernel's
 * kselftest harness still link the library, whose helpers may end a
 * program through ktap_skip_all(). A ktap.h test's KTAP_DEFINE_STATE()
 * wins over this one.
 */
#include "ktap.h"

struct ktap ktap_state __attribute__((weak));
