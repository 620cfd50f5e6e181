# make bench: every tools/bench_[0-9]*.sh, in name order, each printing its own
# measurements with the machine it ran on.
bench: all examples
	@uname -srm; nproc | sed 's/^/cores: /'; grep -m1 'model name' /proc/cpuinfo || true
	@for s in $(sort $(wildcard tools/bench_[0-9]*.sh)); do B=$(B) sh $$s || exit 1; done
