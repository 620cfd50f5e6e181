# make demo: start the bundled mock LLM API, run curl and a Python client
# without and with airlock, show what changed (examples/demo.sh).
demo: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) sh examples/demo.sh
