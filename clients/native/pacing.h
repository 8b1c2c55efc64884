/* How the open-loop worker keeps its schedule: it sleeps until WAKE_EARLY_NS before the next
 * send is due and spins only the rest, and may run at real-time priority while that starves
 * nothing it needs. */
#ifndef LOAD_PACING_H
#define LOAD_PACING_H
#include <stdint.h>

int64_t wake_at(int64_t now, int64_t due); /* until when to sleep; `now` to spin */
/* Whether this process was pinned to CPUs the server (when its PID is known) is not on:
 * `--priority auto` goes real-time only then, never over a CPU the server needs. */
int cpus_of_its_own(int server_pid);
/* Ask for SCHED_FIFO at the lowest real-time priority: 1 if granted, else 0 (`say`: and one
 * line on stderr). */
int enter_realtime(int say);
/* Once real-time: a breather at normal priority while this CPU's softirq thread starves.
 * Returns how long the worker will now be at normal priority (ns), if it will. */
int64_t watch_realtime(int64_t now);
#endif
