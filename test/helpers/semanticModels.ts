import type { ModelManifest } from '../../src-main/common/inference/types';

export const VOC = ['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'];

/** DeepLabV3 (TensorFlow export): NHWC input, RGB stretched to 257x257, x/127.5 - 1; 21 VOC scores per pixel. */
export function deeplabManifest(file: string): ModelManifest {
  return {
    id: 'deeplabv3-voc',
    name: 'DeepLabV3 MobileNetV2 VOC',
    task: 'semantic',
    size: [257, 257],
    colour: 'rgb',
    scale: 1 / 127.5,
    mean: [1, 1, 1],
    std: [1, 1, 1],
    letterbox: 'stretch',
    layout: 'nhwc',
    classes: VOC,
    background: 0,
    activation: 'softmax',
    thresholds: { score: 0, iou: 0.5, maxDetections: 100 },
    file,
  };
}

/** The bioimage.io nuclei U-Net: one channel, z-scored per image, one logit per pixel. */
export function unetManifest(file: string, instances?: ModelManifest['instances']): ModelManifest {
  return {
    id: 'unet2d-nuclei',
    name: 'UNet2D nuclei',
    task: 'semantic',
    size: [512, 512],
    colour: 'rgb',
    scale: 1,
    letterbox: 'stretch',
    normalize: 'zscore',
    highBitDepth: 'minmax',
    classes: ['nucleus'],
    thresholds: { score: 0, iou: 0.5, maxDetections: 1000 },
    ...(instances ? { instances } : {}),
    file,
  };
}
