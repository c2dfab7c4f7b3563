/* What the corpus files share: helpers for the tamper hooks, and the
 * hooks the table in fz-corpus.c names. */
#ifndef FZ_CORPUS_INT_H
#define FZ_CORPUS_INT_H

#include "fz-corpus.h"

/* Replace the payload of a message (keeping the header), and its length
 * field when fix_len. */
void msg_set_payload (struct fz_msg *m, const void *p, size_t n, bool fix_len);
void msg_set_len (struct fz_msg *m, uint64_t v);
uint8_t *payload (struct fz_msg *m);
size_t payload_len (const struct fz_msg *m);
/* True for the first message matching (and counts the hit). */
bool first (struct fz_srv *s, bool match);
bool is_info (const struct fz_msg *m, uint16_t type);
bool is_chunk (const struct fz_msg *m, uint16_t type);

/* Handshake hooks (fz-corpus-handshake.c). */
void t_greeting_magic (struct fz_srv *s, struct fz_msg *m);
void t_opt_reply_magic (struct fz_srv *s, struct fz_msg *m);
void t_opt_len_huge (struct fz_srv *s, struct fz_msg *m);
void t_opt_len_big_truncated (struct fz_srv *s, struct fz_msg *m);
void t_opt_len_16m (struct fz_srv *s, struct fz_msg *m);
void t_opt_reply_before_request (struct fz_srv *s, struct fz_msg *m);
void t_opt_meta_ack_twice (struct fz_srv *s, struct fz_msg *m);
void t_opt_wrong_option (struct fz_srv *s, struct fz_msg *m);
void t_opt_unknown_reply_type (struct fz_srv *s, struct fz_msg *m);
void t_server_namelen_over (struct fz_srv *s, struct fz_msg *m);
void t_server_namelen_huge (struct fz_srv *s, struct fz_msg *m);
void t_server_short (struct fz_srv *s, struct fz_msg *m);
void t_info_export_short (struct fz_srv *s, struct fz_msg *m);
void t_info_export_long (struct fz_srv *s, struct fz_msg *m);
void t_info_empty (struct fz_srv *s, struct fz_msg *m);
void t_info_one_byte (struct fz_srv *s, struct fz_msg *m);
void t_info_bs_short (struct fz_srv *s, struct fz_msg *m);
void t_info_bs_insane (struct fz_srv *s, struct fz_msg *m);
void t_info_name_long (struct fz_srv *s, struct fz_msg *m);
void t_info_size_huge (struct fz_srv *s, struct fz_msg *m);
void t_meta_short (struct fz_srv *s, struct fz_msg *m);
void t_meta_empty_name (struct fz_srv *s, struct fz_msg *m);
void t_refusal_huge_msg (struct fz_srv *s, struct fz_msg *m);
void t_export_name_short (struct fz_srv *s, struct fz_msg *m);
void t_oldstyle_truncated (struct fz_srv *s, struct fz_msg *m);
void t_oldstyle_zero_size (struct fz_srv *s, struct fz_msg *m);

/* Transmission hooks (fz-corpus-transmission.c). */
void t_hole_len_8 (struct fz_srv *s, struct fz_msg *m);
void t_hole_size_0 (struct fz_srv *s, struct fz_msg *m);
void t_hole_outside (struct fz_srv *s, struct fz_msg *m);
void t_hole_too_big (struct fz_srv *s, struct fz_msg *m);
void t_data_len_4 (struct fz_srv *s, struct fz_msg *m);
void t_data_len_8 (struct fz_srv *s, struct fz_msg *m);
void t_data_after_range (struct fz_srv *s, struct fz_msg *m);
void t_data_before_range (struct fz_srv *s, struct fz_msg *m);
void t_data_past_range (struct fz_srv *s, struct fz_msg *m);
void t_data_offset_wraps (struct fz_srv *s, struct fz_msg *m);
void t_data_len_huge (struct fz_srv *s, struct fz_msg *m);
void t_ext_len_2_63 (struct fz_srv *s, struct fz_msg *m);
void t_ext_wrong_offset (struct fz_srv *s, struct fz_msg *m);
void t_none_with_payload (struct fz_srv *s, struct fz_msg *m);
void t_none_without_done (struct fz_srv *s, struct fz_msg *m);
void t_done_missing (struct fz_srv *s, struct fz_msg *m);
void t_done_twice (struct fz_srv *s, struct fz_msg *m);
void t_unknown_chunk_type (struct fz_srv *s, struct fz_msg *m);
void t_unknown_error_type (struct fz_srv *s, struct fz_msg *m);
void t_bs_len_6 (struct fz_srv *s, struct fz_msg *m);
void t_bs_len_not_multiple (struct fz_srv *s, struct fz_msg *m);
void t_bs_zero_desc (struct fz_srv *s, struct fz_msg *m);
void t_bs_unknown_context (struct fz_srv *s, struct fz_msg *m);
void t_bs_zero_length_extent (struct fz_srv *s, struct fz_msg *m);
void t_bs_ext_zero_desc (struct fz_srv *s, struct fz_msg *m);
void t_bs_ext_count_over (struct fz_srv *s, struct fz_msg *m);
void t_bs_ext_count_huge (struct fz_srv *s, struct fz_msg *m);
void t_bs_ext_len_odd (struct fz_srv *s, struct fz_msg *m);
void t_bs_as_compact_in_ext (struct fz_srv *s, struct fz_msg *m);
void t_err_len_3 (struct fz_srv *s, struct fz_msg *m);
void t_err_msg_beyond (struct fz_srv *s, struct fz_msg *m);
void t_err_msg_ffff (struct fz_srv *s, struct fz_msg *m);
void t_err_offset_msg_overlaps (struct fz_srv *s, struct fz_msg *m);
void t_err_offset_outside (struct fz_srv *s, struct fz_msg *m);
void t_err_offset_no_offset (struct fz_srv *s, struct fz_msg *m);
void t_err_zero_errno (struct fz_srv *s, struct fz_msg *m);
void t_err_unknown_errno (struct fz_srv *s, struct fz_msg *m);
void t_err_without_done (struct fz_srv *s, struct fz_msg *m);
void t_chunk_unknown_cookie (struct fz_srv *s, struct fz_msg *m);
void t_simple_unknown_cookie (struct fz_srv *s, struct fz_msg *m);
void t_reply_magic (struct fz_srv *s, struct fz_msg *m);
void t_simple_in_ext (struct fz_srv *s, struct fz_msg *m);
void t_compact_in_ext (struct fz_srv *s, struct fz_msg *m);
void t_chunk_not_negotiated (struct fz_srv *s, struct fz_msg *m);
void t_simple_read_sr (struct fz_srv *s, struct fz_msg *m);
void t_simple_error_then_data (struct fz_srv *s, struct fz_msg *m);

#endif
