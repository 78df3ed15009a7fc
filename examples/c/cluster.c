/*
 * A 3-node Raft cluster in one process, over senate's C ABI: it elects a leader, commits
 * 10,000 entries on all three nodes, then spreads 100,000 keys over the nodes with Maglev.
 *
 * Build (after `cargo build --release -p senate-capi`; see docs/c-api.md):
 *   cc -std=c99 -O2 -I rust/capi/include examples/c/cluster.c \
 *      target/release/libsenate_capi.a -lpthread -ldl -lm -o cluster
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "senate.h"

#define NODES 3
#define ENTRIES 10000
/* Proposals the leader may have in flight ahead of its own applied index. */
#define WINDOW 256
#define KEYS 100000
/* Ticks without progress after which the example gives up (a bug, not a slow machine). */
#define MAX_IDLE_ROUNDS 10000

/* Stops the program with the library's message when a call fails. */
#define CHECK(call)                                                                        \
  do {                                                                                     \
    senate_code code_ = (call);                                                            \
    if (code_ != SENATE_CODE_OK) {                                                         \
      fprintf(stderr, "%s:%d: %s: error %d: %s\n", __FILE__, __LINE__, #call, (int)code_, \
              senate_last_error_message());                                                \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

/* What each node's state machine holds: the entries applied, and a checksum over them. */
typedef struct {
  senate_raft_node *node;
  uint64_t applied_entries;
  uint64_t checksum;
} replica;

static uint64_t fnv1a(uint64_t hash, const uint8_t *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    hash = (hash ^ data[i]) * 0x100000001b3ULL;
  }
  return hash;
}

/* Carries out every Ready of every node: send (step the destination at once), apply, advance.
 * Returns the number of Readies handled. */
static int drain(replica *replicas) {
  int handled = 0;
  for (int i = 0; i < NODES; i++) {
    for (;;) {
      senate_ready *ready = NULL;
      CHECK(senate_raft_node_ready(replicas[i].node, &ready));
      if (ready == NULL) {
        break;
      }
      senate_ready_info info;
      CHECK(senate_ready_get_info(ready, &info));
      /* In-memory nodes persist before handing out a Ready: every message may go now. */
      for (size_t m = 0; m < info.message_count; m++) {
        uint64_t to;
        const uint8_t *frames;
        size_t len;
        CHECK(senate_ready_message(ready, m, &to, &frames, &len));
        CHECK(senate_raft_node_step(replicas[to - 1].node, frames, len, NULL));
      }
      for (size_t c = 0; c < info.committed_count; c++) {
        senate_entry entry;
        CHECK(senate_ready_committed(ready, c, &entry));
        if (!entry.is_noop) {
          replicas[i].applied_entries++;
          replicas[i].checksum = fnv1a(replicas[i].checksum, entry.data, entry.len);
        }
      }
      CHECK(senate_raft_node_advance(replicas[i].node));
      CHECK(senate_ready_free(ready));
      handled++;
    }
  }
  return handled;
}

static int leader_of(replica *replicas) {
  for (int i = 0; i < NODES; i++) {
    senate_raft_status status;
    CHECK(senate_raft_node_status(replicas[i].node, &status));
    if (status.role == SENATE_ROLE_LEADER) {
      return i;
    }
  }
  return -1;
}

static void run_cluster(void) {
  const uint64_t voters[NODES] = {1, 2, 3};
  replica replicas[NODES];
  for (int i = 0; i < NODES; i++) {
    senate_raft_config config;
    CHECK(senate_raft_config_default(voters[i], &config));
    replicas[i] = (replica){NULL, 0, 0xcbf29ce484222325ULL};
    CHECK(senate_raft_node_new(&config, voters, NODES, &replicas[i].node));
  }

  int leader = -1;
  int ticks = 0;
  while (leader < 0) {
    for (int i = 0; i < NODES; i++) {
      CHECK(senate_raft_node_tick(replicas[i].node, 1));
    }
    ticks++;
    drain(replicas);
    leader = leader_of(replicas);
    if (ticks > MAX_IDLE_ROUNDS) {
      fprintf(stderr, "no leader after %d ticks\n", ticks);
      exit(1);
    }
  }
  senate_raft_status status;
  CHECK(senate_raft_node_status(replicas[leader].node, &status));
  printf("leader: node %" PRIu64 " (term %" PRIu64 ") after %d ticks\n", status.id, status.term,
         ticks);

  uint64_t proposed = 0;
  int idle_rounds = 0;
  while (replicas[0].applied_entries < ENTRIES || replicas[1].applied_entries < ENTRIES ||
         replicas[2].applied_entries < ENTRIES) {
    while (proposed < ENTRIES && proposed - replicas[leader].applied_entries < WINDOW) {
      char entry[32];
      int len = snprintf(entry, sizeof entry, "entry-%05" PRIu64, proposed);
      CHECK(senate_raft_node_propose(replicas[leader].node, (const uint8_t *)entry, (size_t)len));
      proposed++;
    }
    if (drain(replicas) > 0) {
      idle_rounds = 0;
      continue;
    }
    /* Nothing to do: time passes. Followers learn the last commit index from the leader's
     * next heartbeat. */
    for (int i = 0; i < NODES; i++) {
      CHECK(senate_raft_node_tick(replicas[i].node, 1));
    }
    if (++idle_rounds > MAX_IDLE_ROUNDS) {
      fprintf(stderr, "no progress: %" PRIu64 " proposed\n", proposed);
      exit(1);
    }
  }
  CHECK(senate_raft_node_status(replicas[leader].node, &status));
  int same = replicas[0].checksum == replicas[1].checksum &&
             replicas[1].checksum == replicas[2].checksum;
  printf("committed %d entries on all %d nodes (commit index %" PRIu64 "), checksums %s: %016" PRIx64
         "\n",
         ENTRIES, NODES, status.commit, same ? "equal" : "DIFFER", replicas[0].checksum);
  for (int i = 0; i < NODES; i++) {
    CHECK(senate_raft_node_free(replicas[i].node));
  }
  if (!same) {
    exit(1);
  }
}

static void run_maglev(void) {
  const char *names[NODES] = {"node-1", "node-2", "node-3"};
  senate_balancer_options options;
  CHECK(senate_balancer_options_default(SENATE_ALGORITHM_MAGLEV, &options));
  senate_balancer *maglev = NULL;
  CHECK(senate_balancer_new(&options, names, NULL, NODES, &maglev));
  size_t table_size;
  CHECK(senate_balancer_maglev_table_size(maglev, &table_size));

  uint64_t counts[NODES] = {0};
  for (int k = 0; k < KEYS; k++) {
    char key[32];
    int len = snprintf(key, sizeof key, "user:%d", k);
    size_t index;
    CHECK(senate_balancer_pick_key(maglev, (const uint8_t *)key, (size_t)len, &index));
    counts[index]++;
  }
  printf("maglev (table size %zu): %d keys ->", table_size, KEYS);
  for (size_t i = 0; i < NODES; i++) {
    const char *name;
    CHECK(senate_balancer_name(maglev, i, &name));
    printf(" %s %" PRIu64 "%s", name, counts[i], i + 1 < NODES ? "," : "\n");
  }
  size_t index;
  CHECK(senate_balancer_pick_key(maglev, (const uint8_t *)"user:42", 7, &index));
  const char *name;
  CHECK(senate_balancer_name(maglev, index, &name));
  printf("key user:42 -> %s\n", name);
  CHECK(senate_balancer_free(maglev));
}

int main(void) {
  printf("senate %s\n", senate_version());
  run_cluster();
  run_maglev();
  return 0;
}
