# The stream scrubber's benchmark program: one ~2 KB completion fed as the
# mock's 1-4 byte deltas (count it with callgrind --toggle-collect=measured).
EXAMPLES += $(B)/ex/bench_stream
$(B)/ex/bench_stream: examples/bench_stream.c $(CORE_OBJ) $(HDRS) | $(B)/ex
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE_OBJ) $(LIBS)
