/* For unit tests that play the server to the protocol engine.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_ENGINE_DRAIN_H
#define ESMTP_ENGINE_DRAIN_H

#include "protocol.h"

/* Takes everything the engine wants to send now, as one malloc'd string,
 * and tells the engine it was sent. */
char *engine_drain(engine *e);

#endif
