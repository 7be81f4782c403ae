"""Tasklet designs, one module each, registered by name."""

from . import xen44_global as xen44_global
from .base import Tasklet, TaskletDesign, design_names, get_design, register_design

__all__ = ["Tasklet", "TaskletDesign", "design_names", "get_design", "register_design"]
