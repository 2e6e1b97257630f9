"""Emporium: an e-commerce platform built as real microservices."""
