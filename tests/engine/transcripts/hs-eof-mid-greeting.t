# The server hangs up in the middle of its greeting.
rx NBDMAGIC 4948
eof
expect state=DEAD
