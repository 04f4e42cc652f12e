import { AppError } from '../common/errors';
import type { ImageReview, ReviewVerdict } from '../common/model';
import { getImage, setReview } from '../db/images';
import type { Dataset } from './dataset';

/**
 * A reviewer's verdict on an image: 'reviewed' accepts it, 'rejected' sends it back with a
 * comment saying what to fix. Only images a labeler has finished (done) or that were reviewed
 * before can be judged; the comment is kept until the next verdict, whatever the status does
 * in between, so the labeler can read why the image came back.
 */
export async function reviewImage(ds: Dataset, args: { id: number; verdict: ReviewVerdict; comment?: string | undefined }): Promise<ImageReview> {
  const im = await getImage(ds.db, args.id);
  if (!im) throw new AppError('NOT_FOUND', `image ${args.id} is not in the dataset`, { id: args.id });
  if (im.status === 'new' || im.status === 'in_progress') {
    throw new AppError(
      'INVALID_ARGUMENT',
      `${im.path}: is ${im.status === 'new' ? 'new' : 'in progress'}; only done, reviewed or rejected images can be reviewed`,
      { id: args.id, status: im.status },
    );
  }
  const comment = args.comment?.trim() || null;
  await setReview(ds.db, args.id, args.verdict, comment);
  return { id: args.id, status: args.verdict, reviewComment: comment };
}
