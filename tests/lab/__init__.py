"""The test lab: real SIP peers (Kamailio, SIPp, pjsua2 phones) on loopback.

Every helper is a synchronous context manager that starts a child process on its own
free 127.0.0.1 port, polls it until it is ready, and stops it by PID on exit.
"""
