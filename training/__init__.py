"""Training: recurrent PPO for any circuit (`training.ppo.Trainer`), the run directory (`training.run.Run`),
the rollout that evaluation, recording and lesions share (`training.rollout`), checkpoints and files.

    from training.run import Run
    from training.rollout import evaluate
    result = evaluate(Run("runs/reach/lstm/seed0"), episodes=20)
"""
