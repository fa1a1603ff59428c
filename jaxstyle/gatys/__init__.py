"""Gatys et al. image-optimisation style transfer and texture synthesis.

``transfer``   ``Settings``, ``Stylizer`` (targets, jitted objective, optimisers) and
               ``stylize`` (multiple styles, colour preservation, scales, spatial control)
``lbfgs``      L-BFGS with a host-driven strong-Wolfe line search
``normalize``  Gatys et al.'s VGG normalisation (mean activation one per filter)
``task``       the ``jaxstyle run gatys`` task: one transfer into a run directory
"""
