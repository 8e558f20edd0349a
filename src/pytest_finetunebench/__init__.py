"""pytest-finetunebench: does fine-tuning put new knowledge into a language model?"""

__version__ = "0.1.0"
