"""The lab: the mail hosts of the bundled lab sites as network namespaces.

control runs the whole lab (lab_up, lab_down, lab_status); hosts is the
topology; netns, nsd, sshd and mail each set up one part of it.
"""
