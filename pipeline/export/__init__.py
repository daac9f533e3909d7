"""The export stage: a trained model as a versioned TensorFlow SavedModel taking raw pixels (stage),
and the other formats it converts to: TFLite, int8 TFLite, ONNX (formats)."""
