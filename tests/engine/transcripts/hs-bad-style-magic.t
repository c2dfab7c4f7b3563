# NBDMAGIC followed by neither IHAVEOPT nor the oldstyle magic.
rx NBDMAGIC 0102030405060708
expect state=DEAD
