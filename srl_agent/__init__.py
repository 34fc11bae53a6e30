"""srl-agent: train software-engineering agents with Supervised Reinforcement Learning (arXiv 2510.25992)."""

__version__ = "0.1.0"
