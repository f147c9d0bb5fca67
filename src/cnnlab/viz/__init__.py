"""What a trained network learned: filters, activation maps, Grad-CAM/saliency, class templates.

Submodules are imported on use (``from cnnlab.viz.cam import explain``) so that ``import
cnnlab.viz`` stays light; every figure is drawn with matplotlib's Agg backend (no display).
"""
