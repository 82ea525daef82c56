"""HTTP header names the clients send and the servers read."""

# A caller the server's policy lists as a delegate (Jamie) acts for a person: the person's
# name, percent-encoded UTF-8 (header values are ASCII on the wire), and the roles asserted.
ON_BEHALF_OF_HEADER = "X-Autodevops-On-Behalf-Of"
ON_BEHALF_OF_ROLES_HEADER = "X-Autodevops-On-Behalf-Of-Roles"
