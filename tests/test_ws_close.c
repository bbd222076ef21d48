/* test_ws_close.c - close code validity and names (RFC 6455 7.4). */
#include <criterion/criterion.h>

#include "wsdbg/ws_close.h"

Test(ws_close, codes_never_sent_on_the_wire_are_invalid)
{
	cr_assert_not(ws_close_code_is_valid(1005));
	cr_assert_not(ws_close_code_is_valid(WS_CLOSE_ABNORMAL));
	cr_assert_not(ws_close_code_is_valid(1015));
	cr_assert_not(ws_close_code_is_valid(1004));
}

Test(ws_close, boundaries_of_the_application_ranges)
{
	cr_assert_not(ws_close_code_is_valid(2999));
	cr_assert(ws_close_code_is_valid(3000));
	cr_assert(ws_close_code_is_valid(4999));
	cr_assert_not(ws_close_code_is_valid(5000));
	cr_assert_not(ws_close_code_is_valid(999));
}

Test(ws_close, names_describe_registered_codes_and_ranges)
{
	cr_assert_str_eq(ws_close_code_name(1000), "normal closure");
	cr_assert_str_eq(ws_close_code_name(1001), "going away");
	cr_assert_str_eq(ws_close_code_name(1006), "abnormal closure");
	cr_assert_str_eq(ws_close_code_name(1011), "internal error");
	cr_assert_str_eq(ws_close_code_name(3500), "registered for libraries");
	cr_assert_str_eq(ws_close_code_name(4001), "private use");
	cr_assert_str_eq(ws_close_code_name(2500), "reserved");
	cr_assert_str_eq(ws_close_code_name(7), "invalid");
}
