"""cocotb tests of the small arithmetic units of hw/rtl/ (one module per unit)."""
