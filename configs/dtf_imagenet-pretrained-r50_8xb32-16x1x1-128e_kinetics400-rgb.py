# The conventional MMAction2 name of dtf_r50_k400.py.
_base_ = ['dtf_r50_k400.py']
