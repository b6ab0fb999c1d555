"""Layer class names keras ships (Keras 3 and the Keras 2 / tf.keras aliases).

Legacy .h5 configs do not say which module a class comes from, so a class not listed here is
a user's custom layer: nnviz draws it as an opaque box and never tries to interpret it.
"""

from __future__ import annotations

BUILTIN_LAYERS: frozenset[str] = frozenset("""
Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add
AdditiveAttention AlphaDropout Attention AugMix AutoContrast Average AveragePooling1D
AveragePooling2D AveragePooling3D BatchNormalization Bidirectional CategoryEncoding CenterCrop
Concatenate ContrastLimitedAdaptiveHistogramEqualization Conv1D Conv1DTranspose Conv2D
Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D Cropping1D Cropping2D
Cropping3D CutMix Dense DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout ELU
EinsumDense Embedding Equalization Flatten GRU GRUCell GaussianDropout GaussianNoise
GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D
GlobalMaxPooling2D GlobalMaxPooling3D GroupNormalization GroupedQueryAttention HashedCrossing
Hashing Identity InputLayer IntegerLookup LSTM LSTMCell LayerNormalization LeakyReLU Masking
MaxNumBoundingBoxes MaxPooling1D MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum MixUp
MultiHeadAttention Multiply Normalization PReLU Permute Pipeline RMSNormalization RNN RandAugment
RandomBrightness RandomColorDegeneration RandomColorJitter RandomContrast RandomCrop
RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur RandomGrayscale RandomHue
RandomInvert RandomPerspective RandomPosterization RandomRotation RandomSaturation
RandomSharpness RandomShear RandomTranslation RandomZoom ReLU RepeatVector Rescaling Reshape
Resizing ReversibleEmbedding STFTSpectrogram SeparableConv1D SeparableConv2D SimpleRNN
SimpleRNNCell Softmax Solarization SpatialDropout1D SpatialDropout2D SpatialDropout3D
SpectralNormalization StackedRNNCells StringLookup Subtract TextVectorization TimeDistributed
UnitNormalization UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D
ZeroPadding3D
Convolution1D Convolution2D Convolution3D Convolution2DTranspose Convolution3DTranspose
Deconvolution2D Deconvolution3D SeparableConvolution1D SeparableConvolution2D
AvgPool1D AvgPool2D AvgPool3D MaxPool1D MaxPool2D MaxPool3D GlobalAvgPool1D GlobalAvgPool2D
GlobalAvgPool3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D ThresholdedReLU CuDNNLSTM
CuDNNGRU LocallyConnected1D LocallyConnected2D ConvRNN2D SyncBatchNormalization
RandomHeight RandomWidth EinsumDense DenseFeatures Functional Sequential Model
""".split())

# Builtins that wrap user code (a Python function, a torch/JAX module, a SavedModel): their
# computation is not in the config, so they are drawn opaque too.
CODE_LAYERS: frozenset[str] = frozenset({
    "Lambda", "TFOpLambda", "SlicingOpLambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer",
    "TFSMLayer", "Layer", "Wrapper",
})
