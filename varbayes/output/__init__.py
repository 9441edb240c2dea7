"""Results as ArviZ ``DataTree`` s."""

from varbayes.output.datatree import observed_data_dict, to_datatree

__all__ = ["to_datatree", "observed_data_dict"]
