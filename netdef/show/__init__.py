"""Pictures (docs/design.md §1, "show"): the learned filters (the paper's Figure 3), training
curves, validation predictions and the scheduled rates, as PNG files.

    image = render_filters(netdef.load_model("runs/quickstart/ckpt.pt"))
    image.save("filters.png")
"""

from .cost import read_metrics, render_cost
from .filters import FilterBlock, filter_image, first_layers, layer_block, render_filters
from .lr import render_lr
from .output import check_writable, default_out, save_image
from .preds import pick, render_preds

__all__ = ["render_filters", "filter_image", "FilterBlock", "first_layers", "layer_block",
           "render_cost", "read_metrics", "render_preds", "pick", "render_lr",
           "check_writable", "default_out", "save_image"]
