# make eval: every tools/eval_*.py scores the engine on ../shared/eval and
# prints its table.  make train: rebuild the shipped classifier.
EVAL_DIR ?= ../shared/eval
eval: all
	@for s in $(sort $(wildcard tools/eval_*.py)); do \
	  /usr/bin/python3 $$s --airlock $(B)/airlock --eval $(EVAL_DIR) || exit 1; done
