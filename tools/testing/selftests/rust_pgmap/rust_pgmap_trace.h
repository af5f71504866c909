/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kmem trace events, watched from outside the module: which frees ran through rust_pgmap's
 * code, and in which context. Include after rust_pgmap_lib.h.
 */
#ifndef RUST_PGMAP_TRACE_H
#define RUST_PGMAP_TRACE_H

#include <sys/mount.h>

#define TRACEFS "/sys/kernel/tracing/"

static inline int tracefs_write(const char *file, const char *text)
{
	char path[128];

	snprintf(path, sizeof(path), TRACEFS "%s", file);
	return rpg_write_file(path, text);
}

/*
 * Turns the kmem free events on or off, each with the stack that freed: the call site of a
 * Rust free is krealloc() or kvfree() in the core, so only the stack shows who freed. Clears
 * the trace when turning them on.
 */
static inline int trace_frees(bool on)
{
	static const char *const events[] = { "kfree", "kmem_cache_free" };
	char file[64];
	int ret = 0;

	if (access(TRACEFS "trace", F_OK) && mount("nodev", TRACEFS, "tracefs", 0, NULL))
		return -errno;
	ret = tracefs_write("tracing_on", "0");
	/* Symbols with their module, "func+0x1/0x2 [rust_pgmap]", in the stacks. */
	ret = ret ?: tracefs_write("options/sym-offset", on ? "1" : "0");
	/*
	 * Room for every free of the window, each with its stack: trace_frees_stop() fails if the
	 * ring had to overwrite any.
	 */
	if (on)
		ret = ret ?: tracefs_write("buffer_size_kb", "16384");
	if (on)
		ret = ret ?: tracefs_write("trace", "");
	for (int i = 0; i < 2; i++) {
		snprintf(file, sizeof(file), "events/kmem/%s/trigger", events[i]);
		ret = ret ?: tracefs_write(file, on ? "stacktrace" : "!stacktrace");
		snprintf(file, sizeof(file), "events/kmem/%s/enable", events[i]);
		ret = ret ?: tracefs_write(file, on ? "1" : "0");
	}
	if (on)
		ret = ret ?: tracefs_write("tracing_on", "1");
	return ret;
}

/* Free events in the trace whose stack runs through rust_pgmap: all, and those in hard IRQ. */
struct module_frees {
	int all, in_hardirq;
};

/*
 * Where an interrupt entered: the unwinder goes on into the context that the interrupt
 * stopped, whose frames are not the freeing code's.
 */
static inline bool trace_irq_entry(const char *frame)
{
	return strstr(frame, "asm_sysvec_") || strstr(frame, "asm_common_interrupt") ||
	       strstr(frame, "asm_exc_");
}

/* Counts the event whose stack was just read; prints a hard-IRQ one that ran through us. */
static inline void count_module_free(struct module_frees *n, bool ours, bool hardirq,
				     const char *event, const char *stack)
{
	if (!ours)
		return;
	n->all++;
	if (hardirq) {
		n->in_hardirq++;
		ksft_print_msg("freed in hard IRQ: %s", event);
		ksft_print_msg("%s", stack);
	}
}

static inline struct module_frees count_module_frees(FILE *trace)
{
	struct module_frees n = { 0 };
	bool in_event = false, hardirq = false, ours = false, entered = false;
	char line[512], event[512] = "", stack[4096] = "", flags[8];

	while (fgets(line, sizeof(line), trace)) {
		char *cpu = strstr(line, "] ");

		if (!strncmp(line, " => ", 4)) {
			if (!in_event || entered)
				continue;
			entered = trace_irq_entry(line);
			ours |= !entered && strstr(line, "[rust_pgmap]");
			if (strlen(stack) + strlen(line) < sizeof(stack))
				strcat(stack, line);
			continue;
		}
		if (!strstr(line, ": kfree:") && !strstr(line, ": kmem_cache_free:"))
			continue;
		count_module_free(&n, ours, hardirq, event, stack);
		/* "d.h1." and the like: h (or H, with an NMI) marks hard interrupt context. */
		flags[0] = 0;
		if (cpu)
			sscanf(cpu + 2, "%7s", flags);
		in_event = true;
		hardirq = strlen(flags) > 2 && (flags[2] == 'h' || flags[2] == 'H');
		ours = entered = false;
		snprintf(event, sizeof(event), "%s", line);
		stack[0] = 0;
	}
	count_module_free(&n, ours, hardirq, event, stack);
	return n;
}

/* Events that the ring overwrote since it was cleared, over every CPU. */
static inline long trace_overruns(void)
{
	char path[64], line[128];
	long total = 0, n;

	for (int cpu = 0;; cpu++) {
		FILE *stats;

		snprintf(path, sizeof(path), TRACEFS "per_cpu/cpu%d/stats", cpu);
		stats = fopen(path, "r");
		if (!stats)
			return total;
		while (fgets(line, sizeof(line), stats))
			if (sscanf(line, "overrun: %ld", &n) == 1)
				total += n;
		fclose(stats);
	}
}

/*
 * Stops the trace and counts what it saw, then turns the events off. -EOVERFLOW if the ring
 * lost events: a lost free in hard IRQ would read as none. Each CPU's trace on its own: a
 * stack follows its event only in its CPU's ring, and the merged trace may put another CPU's
 * event between them.
 */
static inline int trace_frees_stop(struct module_frees *frees)
{
	char path[64];
	FILE *trace;
	long lost;
	int ret = tracefs_write("tracing_on", "0");

	if (ret)
		return ret;
	*frees = (struct module_frees){ 0 };
	for (int cpu = 0;; cpu++) {
		struct module_frees n;

		snprintf(path, sizeof(path), TRACEFS "per_cpu/cpu%d/trace", cpu);
		trace = fopen(path, "r");
		if (!trace) {
			if (!cpu)
				return -errno;
			break;
		}
		n = count_module_frees(trace);
		fclose(trace);
		frees->all += n.all;
		frees->in_hardirq += n.in_hardirq;
	}
	lost = trace_overruns();
	ret = trace_frees(false);
	if (!ret && lost) {
		ksft_print_msg("the trace ring overwrote %ld events\n", lost);
		ret = -EOVERFLOW;
	}
	return ret;
}

#endif /* RUST_PGMAP_TRACE_H */
