#!/bin/sh
# test_hooks_edge.sh: the hooks under host behaviour that is legal but rare:
# descriptors closed under a reading thread, replaced by dup2, reused; API
# calls at the edges of their contracts.  The host must see exactly what it
# would see without airlock: no crash, hang, failed call or changed byte.
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"; stop_mock' EXIT
start_mock
cc -std=gnu11 -O1 -g -D_GNU_SOURCE -o "$T/sock_edge" "$ROOT/tests/integration/edge/sock_edge.c" -lpthread ||
    { fail build "cannot compile sock_edge.c"; finish; }
cc -std=gnu11 -O1 -g -D_GNU_SOURCE -o "$T/ssl_edge" "$ROOT/tests/integration/edge/ssl_edge.c" -lssl -lcrypto ||
    { fail build "cannot compile ssl_edge.c"; finish; }

# run NAME CMD...: ok when the command prints "ok" and exits 0 within 40 s.
run() {
    name=$1
    shift
    # freed memory is filled, so a use after free shows as a crash
    out=$(MALLOC_PERTURB_=85 LD_PRELOAD=$SHIM timeout 40 "$@" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ "$(echo "$out" | tail -n 1)" = ok ]; then
        ok "$name"
    else
        fail "$name" "exit $rc: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
    fi
}

run socket_closed_while_another_thread_reads_it_neither_crashes_nor_hangs \
    "$T/sock_edge" close-during-read "$HTTP_PORT"
run socket_replaced_by_dup2_before_its_first_write_passes_bytes_to_the_new_file \
    "$T/sock_edge" dup2-over "$HTTP_PORT"
run socket_closed_by_fclose_then_reused_by_a_socket_pair_passes_bytes_unchanged \
    "$T/sock_edge" fclose-reuse "$HTTP_PORT"
run followed_socket_closed_by_fclose_then_reused_by_a_socket_pair_passes_bytes_unchanged \
    "$T/sock_edge" fclose-reuse-tracked "$HTTP_PORT"
run undecided_first_bytes_then_dup2_reach_the_server_before_the_rest_written_through_the_copy \
    "$T/sock_edge" dup2-held "$HTTP_PORT"
run recv_with_msg_trunc_and_no_buffer_on_a_followed_socket_discards_bytes_as_the_kernel_does \
    "$T/sock_edge" trunc-discard "$HTTP_PORT"
run successful_write_and_read_of_an_llm_call_leave_errno_alone \
    "$T/sock_edge" errno-kept "$HTTP_PORT"
run nonblocking_ssl_read_that_must_wait_returns_minus_one_with_want_read \
    "$T/ssl_edge" nonblock-returns "$TLS_PORT" "$CA"
run ssl_get_error_after_a_made_up_end_explains_later_calls_with_openssls_own_answer \
    "$T/ssl_edge" stale-error "$TLS_PORT" "$CA"
# an install path LD_PRELOAD cannot carry: refused, never run unscreened
mkdir -p "$T/with space"
cp "$AIRLOCK" "$SHIM" "$T/with space/"
out=$("$T/with space/airlock" run -- sh -c 'echo ran' 2>&1)
rc=$?
if [ $rc -eq 127 ] && ! echo "$out" | grep -q '^ran$' && echo "$out" | grep -q '^airlock: .*LD_PRELOAD'; then
    ok airlock_run_installed_under_a_path_with_a_space_refuses_instead_of_running_unscreened
else
    fail airlock_run_installed_under_a_path_with_a_space_refuses_instead_of_running_unscreened \
        "exit $rc: $(echo "$out" | head -n 2 | tr '\n' ' ')"
fi
finish
