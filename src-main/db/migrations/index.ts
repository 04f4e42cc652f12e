import { initial } from './0001-initial';
import { editing } from './0002-editing';
import { prelabel } from './0003-prelabel';
import { medical } from './0004-medical';
import { geo } from './0005-geo';
import { predictions } from './0006-predictions';
import { frames } from './0007-frames';
import { classOrder } from './0008-class-order';
import { shapeKinds } from './0009-shape-kinds';
import { stacks } from './0010-stacks';
import { comments } from './0011-comments';
import { display } from './0012-display';
import { geoUnits } from './0013-geo-units';
import { embeddings } from './0014-embeddings';
import type { Migration } from './types';

export type { Migration };
export const MIGRATIONS: readonly Migration[] = [initial, editing, prelabel, medical, geo, predictions, frames, classOrder, shapeKinds, stacks, comments, display, geoUnits, embeddings];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
