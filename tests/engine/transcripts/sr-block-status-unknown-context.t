# A block status chunk for a context id no SET_META_CONTEXT reply named
# (fakesrv block-status-unknown-context), before the real one.
include ready-structured-meta.inc
call block_status 4096 0
tx REQUEST u16:0 u16:7 u64:1 u64:0 u32:4096
rx STRUCTURED u16:0 u16:5 u64:1 u32:12 u32:0x7ead u32:4096 u32:0
rx STRUCTURED u16:1 u16:5 u64:1 u32:12 u32:9 u32:4096 u32:0
expect cmd=1 err=0 chunks=1:1 state=READY
