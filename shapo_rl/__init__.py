"""shapo-rl: SHAPO, sTRPO and the on-policy safe-RL baselines."""

from shapo_rl.quiet import drop_adroit_notice

drop_adroit_notice()  # before anything imports gymnasium (see shapo_rl.quiet)
