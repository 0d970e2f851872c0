"""The TensorDict keys that form the data contract between envs, rollouts and algorithms.

Every module reads keys from here, so a rename is one edit.
"""

OBSERVATION = "observation"
ACTION = "action"
ACTION_LOG_PROB = "action_log_prob"
LOC = "loc"
SCALE = "scale"

REWARD = "reward"
COST = "cost"
DONE = "done"
TERMINATED = "terminated"
TRUNCATED = "truncated"

VALUE = "state_value"
COST_VALUE = "cost_value"
ADVANTAGE = "advantage"
COST_ADVANTAGE = "cost_advantage"
VALUE_TARGET = "value_target"
COST_VALUE_TARGET = "cost_value_target"

EPISODE_RETURN = "episode_return"
EPISODE_COST = "episode_cost"
EPISODE_LENGTH = "episode_length"

RAW_OBSERVATION = "raw_observation"  # before normalisation, for algorithms that ask (sTRPO)
SAFETY_STATE = "safety_state"  # Saute's remaining budget z (envs/saute.py)
