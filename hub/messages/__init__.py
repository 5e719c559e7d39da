"""Message bodies: what a body may hold (`payload`), and the forms coded messages travel and
reach clients in (`encoding`: JSON, packed JSON, packed msgpack under a rule set)."""
