"""UART bridge testbench (hw_uart_bridge + regfile_stub)."""
